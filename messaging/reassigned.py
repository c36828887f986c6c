"""Reassigned numbers: ask whether a number changed hands, keep the proof.

The rules: docs/rules.md#reassigned-numbers.

A number we hold consent for may have been disconnected and given to someone else since. The
question is always "was this number disconnected after this date?" (the consent date or the
last date we know the person still had it), and the answer is yes, no or no data.
Every answer is stored as a `ReassignedNumberCheck` (number, date asked, answer, source, when,
raw response): the FCC safe harbor only covers a sender who can prove it asked.

- `check_reassigned(phone, since, contact=..., checker=...)`: one query through a pluggable
  checker (`TwilioLookupChecker` by default, or `settings.REASSIGNED_NUMBER_CHECKER`).
- `import_fcc_rnd_results(file)`: the result file of an FCC Reassigned Numbers Database bulk
  query, one check per row (format below).
- `check_for_dispatch(phone, since, contact=..., failures=...)`: what dispatch asks. Never
  leaves a message waiting on something that cannot answer: a look-up that is not configured
  (no Twilio credentials, e.g. `make run`), a permanent Lookup error (60606: the package is
  not enabled for the account; 60607: the country is not supported) and a look-up that
  failed `REASSIGNED_LOOKUP_MAX_TRIES` times are each stored as a "no data" check saying why,
  so the configured "no data" policy applies at once; only a passing failure under that limit
  asks to be tried again later. `configuration_warning()` names the problem for the admin.
- `reassigned_side_effects(check)`: what a "yes" means for consent (dispatch calls it).
  "no_data" does nothing here: dispatch decides by its own setting.

FCC result file format (CSV, UTF-8, a header row; column names are case-insensitive and may use
spaces, "-" or "_")::

    phone_number,date,result,queried_at
    4155552671,2024-03-01,no,2024-06-02T09:15:00-04:00
    +1 (415) 555-2672,03/01/2024,Yes,
    14155552673,20240301,no data,

- `phone_number` (or `phone`, `number`, `tn`): a US number in any usual format.
- `date` (or `date_provided`, `consent_date`, `last_verified_date`): the date asked about,
  YYYY-MM-DD, YYYYMMDD or MM/DD/YYYY; not after the query.
- `result` (or `answer`, `reassigned`): yes / no / no data (also y, n, no_data,
  no_data_available).
- `queried_at` (optional; or `query_date`, `checked_at`): when the database answered, ISO 8601
  (a time without offset is in settings.TIME_ZONE; a bare date is its midnight). Missing:
  the import time.

A bad row is rejected with its line number and the reason and nothing is written for it; the
good rows of the same file are stored. A file already imported (same content) is refused.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import os
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import IO, Any, Literal, Protocol

import requests
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string
from twilio.base.exceptions import TwilioException

from consent import services as consent_services
from consent.models import ConsentMethod, Contact, SuppressionReason
from consent.phones import InvalidPhoneNumber, normalize_phone

from .models import ReassignedNumberCheck
from .providers.base import ProviderError
from .providers.twilio import provider_error, twilio_client

Answer = ReassignedNumberCheck.Answer
logger = logging.getLogger(__name__)

#: Lookup v2 `reassigned_number.is_number_reassigned` -> our answer.
LOOKUP_ANSWERS: dict[str, str] = {
    "yes": Answer.YES,
    "no": Answer.NO,
    "no_data_available": Answer.NO_DATA,
}
SOURCE_TWILIO_LOOKUP = "twilio_lookup"
SOURCE_FCC_RND_FILE = "fcc_rnd_file"
#: A "no data" check standing for a look-up that could not be made (never reused later).
SOURCE_NOT_CONFIGURED = "not_configured"
#: Lookup errors no retry will change.
PERMANENT_LOOKUP_ERRORS: dict[int, str] = {
    60606: "the reassigned-number package is not enabled for this account (it needs approval)",
    60607: "the country is not supported (reassigned-number data covers US numbers only)",
}
#: After a 60606 (an account-wide answer) this process stops asking for a while.
PACKAGE_DISABLED_PAUSE = timedelta(hours=1)


@dataclass(frozen=True)
class ReassignedVerdict:
    """What the check means for one message: go ahead, block it (the number changed hands), or
    hold it until `until` (a look-up to retry, or "no data" under a hold policy)."""

    action: Literal["go", "block", "hold"]
    until: datetime | None = None

    @classmethod
    def go(cls) -> ReassignedVerdict:
        return cls("go")

    @classmethod
    def block(cls) -> ReassignedVerdict:
        return cls("block")

    @classmethod
    def hold(cls, until: datetime) -> ReassignedVerdict:
        return cls("hold", until)


@dataclass(frozen=True)
class CheckResult:
    """A checker's answer (one of `Answer`) and what it was told, kept as evidence."""

    answer: str
    raw: dict[str, Any] = field(default_factory=dict)


class Checker(Protocol):
    """Answers "was `phone` disconnected after `since`?". Raises ProviderError if it cannot."""

    source: str

    def check(self, phone: str, since: date) -> CheckResult: ...


class TwilioLookupChecker:
    """Twilio Lookup v2 `reassigned_number` (US numbers only), through the shared client.

    `GET /v2/PhoneNumbers/{phone}?Fields=reassigned_number&LastVerifiedDate=YYYYMMDD` at
    `settings.TWILIO_LOOKUP_BASE_URL` (default Twilio's). Raises ProviderError: transient when
    Twilio could not be asked, permanent with Lookup's error code when it gave no answer.
    """

    source = SOURCE_TWILIO_LOOKUP

    def configured(self) -> bool:
        return bool(settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN)

    def check(self, phone: str, since: date) -> CheckResult:
        last_verified = since.strftime("%Y%m%d")
        try:
            result = (
                twilio_client()
                .lookups.v2.phone_numbers(phone)
                .fetch(fields="reassigned_number", last_verified_date=last_verified)
            )
        except (TwilioException, requests.RequestException) as exc:
            raise provider_error(exc) from exc
        data = result.reassigned_number or {}
        answer = LOOKUP_ANSWERS.get(data.get("is_number_reassigned") or "")
        if answer is None:
            raise ProviderError(
                f"Lookup gave no reassigned-number answer for {phone}: {data or 'nothing'}",
                transient=False,
                code=lookup_error_code(data.get("error_code")),
            )
        return CheckResult(
            answer=answer,
            raw={
                "phone_number": result.phone_number,
                "last_verified_date": last_verified,
                "reassigned_number": data,
                "url": result.url,
            },
        )


def lookup_error_code(value: Any) -> int | None:
    """Lookup's `error_code` as a number: the spec types it as a string ("60606")."""
    try:
        return int(str(value).strip()) if value not in (None, "") else None
    except ValueError:
        return None


@cache
def _checker_class(path: str) -> type[Checker]:
    return import_string(path)


def default_checker() -> Checker:
    return _checker_class(settings.REASSIGNED_NUMBER_CHECKER)()


def check_reassigned(
    phone: str,
    since: date,
    *,
    contact: Contact | None = None,
    checker: Checker | None = None,
) -> ReassignedNumberCheck:
    """Ask whether `phone` was disconnected after `since` and store the answer as evidence.

    `since` is the consent date or the last date the person was known to have the number.
    Returns the stored check; `checked_at` is when we asked. Raises InvalidPhoneNumber,
    ValueError for a future `since`, and ProviderError when there is no answer (nothing is
    stored then: there is nothing to prove). Applies no side effects: see
    `reassigned_side_effects`.
    """
    e164 = normalize_phone(phone)
    if isinstance(since, datetime):
        since = timezone.localdate(since) if timezone.is_aware(since) else since.date()
    if since > timezone.localdate():
        raise ValueError(f"cannot ask about a future date ({since})")
    checker = checker or default_checker()
    asked_at = timezone.now()
    result = checker.check(e164, since)
    return ReassignedNumberCheck.objects.create(
        phone=e164,
        contact=contact,
        date_asked=since,
        answer=result.answer,
        source=checker.source,
        checked_at=asked_at,
        raw=result.raw,
    )


_package_disabled_until: dict[str, datetime] = {}


def check_for_dispatch(
    phone: str,
    since: date,
    *,
    contact: Contact | None = None,
    failures: int = 0,
    checker: Checker | None = None,
) -> ReassignedNumberCheck | None:
    """A stored check to act on, or None: a passing failure, ask again later.

    `failures`: how many times this message already waited for a look-up that failed. A
    look-up that cannot be made (not configured, a permanent Lookup error, too many failures)
    is stored as a "no data" check whose `raw` says why (module docstring).
    """
    checker = checker or default_checker()
    configured = getattr(checker, "configured", None)
    if configured is not None and not configured():
        return _no_data(
            phone, since, contact, SOURCE_NOT_CONFIGURED, {"reason": "lookup_not_configured"}
        )
    paused = _package_disabled_until.get(checker.source)
    if paused is not None and paused > timezone.now():
        return _no_data(
            phone,
            since,
            contact,
            checker.source,
            {"reason": "lookup_package_not_enabled", "error_code": 60606, "permanent": True,
             "asked": False},
        )  # fmt: skip
    try:
        return check_reassigned(phone, since, contact=contact, checker=checker)
    except ProviderError as error:
        if error.code in PERMANENT_LOOKUP_ERRORS:
            if error.code == 60606:
                _package_disabled_until[checker.source] = timezone.now() + PACKAGE_DISABLED_PAUSE
            logger.warning("Reassigned-number look-up: error %s: %s", error.code, error)
            raw = {
                "reason": f"lookup_error_{error.code}",
                "error_code": error.code,
                "permanent": True,
                "error": str(error)[:300],
            }
            return _no_data(phone, since, contact, checker.source, raw)
        if failures + 1 >= settings.REASSIGNED_LOOKUP_MAX_TRIES:
            raw = {
                "reason": "lookup_unavailable",
                "tries": failures + 1,
                "error_code": error.code,
                "error": str(error)[:300],
            }
            return _no_data(phone, since, contact, checker.source, raw)
        return None


def _no_data(
    phone: str, since: date, contact: Contact | None, source: str, raw: dict[str, Any]
) -> ReassignedNumberCheck:
    """Store a "no data" check for a look-up that could not give an answer, saying why."""
    return ReassignedNumberCheck.objects.create(
        phone=normalize_phone(phone),
        contact=contact,
        date_asked=since,
        answer=Answer.NO_DATA,
        source=source,
        checked_at=timezone.now(),
        raw={"no_answer": True, **raw},
    )


def configuration_warning(*, days: int = 7) -> str:
    """What keeps reassigned-number look-ups from answering lately, for the admin; "" if all
    is well. Looks at the latest check that stood for a look-up that could not be made."""
    latest = (
        ReassignedNumberCheck.objects.filter(
            checked_at__gte=timezone.now() - timedelta(days=days), raw__no_answer=True
        )
        .order_by("-checked_at")
        .first()
    )
    if latest is None:
        return ""
    code = lookup_error_code(latest.raw.get("error_code"))
    if latest.source == SOURCE_NOT_CONFIGURED:
        why = "reassigned-number look-ups are not configured (no Twilio credentials)"
    elif code in PERMANENT_LOOKUP_ERRORS:
        why = f"Twilio Lookup answered error {code}: {PERMANENT_LOOKUP_ERRORS[code]}"
    else:
        why = "Twilio Lookup kept failing"
    policy = settings.REASSIGNED_NO_DATA_POLICY
    return (
        f"Since {latest.checked_at:%Y-%m-%d %H:%M %Z}, {why}; old consents follow the "
        f"“no data” policy ({policy})."
    )


def reassigned_side_effects(check: ReassignedNumberCheck) -> bool:
    """Act on a check; returns True when it did (only a "yes" does anything).

    "yes": the number is suppressed for every program (reason "reassigned") and, when the
    check names a contact that still has this number, all of the contact's consent is revoked
    (method "carrier"), in one transaction. The consent given for the number belonged to its
    previous holder. Idempotent per check: calling it twice records nothing new.
    """
    if check.answer != Answer.YES:
        return False
    evidence = {
        "reassigned_check_id": check.pk,
        "source": check.source,
        "date_asked": check.date_asked.isoformat(),
        "checked_at": check.checked_at.isoformat(),
    }
    label = f"reassigned number check #{check.pk}"
    with transaction.atomic():
        consent_services.suppression_add(
            phone=check.phone,
            reason=SuppressionReason.REASSIGNED,
            evidence=evidence,
            created_by_label=label,
        )
        contact = check.contact
        # A contact who has since given us another number keeps their consent.
        if contact is not None and contact.phone == check.phone:
            consent_services.consent_revoke(
                contact=contact,
                revoke_all=True,
                method=ConsentMethod.CARRIER,
                source=(
                    f"reassigned number database ({check.source}): {check.phone} disconnected "
                    f"after {check.date_asked:%Y-%m-%d}, check #{check.pk}"
                ),
                occurred_at=check.checked_at,
                evidence=evidence,
                recorded_by_label=label,
                suppression_reason=SuppressionReason.REASSIGNED,
                idempotency_key=f"reassigned:{check.pk}",
            )
    return True


# --- FCC Reassigned Numbers Database result files ---------------------------------------------


class RndFileError(ValueError):
    """The whole file cannot be imported (no header, missing columns, already imported)."""


@dataclass(frozen=True)
class RejectedRow:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


_COLUMNS: dict[str, tuple[str, ...]] = {
    "phone": ("phone_number", "phone", "number", "tn", "telephone_number"),
    "date": ("date", "date_provided", "consent_date", "last_verified_date"),
    "result": ("result", "answer", "reassigned"),
    "queried_at": ("queried_at", "query_date", "checked_at"),
}
_RESULTS = {
    "yes": Answer.YES,
    "y": Answer.YES,
    "no": Answer.NO,
    "n": Answer.NO,
    "no data": Answer.NO_DATA,
    "no_data": Answer.NO_DATA,
    "nodata": Answer.NO_DATA,
    "no data available": Answer.NO_DATA,
    "no_data_available": Answer.NO_DATA,
}
# Clocks disagree a little; a query time later than that is bad input.
_FUTURE_TOLERANCE = timedelta(minutes=5)


def _column_key(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_")


def _parse_date(value: str) -> date:
    for pattern in ("%Y-%m-%d", "%Y%m%d", "%m/%d/%Y"):
        try:
            return datetime.strptime(value, pattern).date()
        except ValueError:
            continue
    raise ValueError(f"date “{value}” is not YYYY-MM-DD, YYYYMMDD or MM/DD/YYYY")


def _parse_queried_at(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"queried_at “{value}” is not an ISO 8601 date or time") from None
    if len(value) <= 10:  # a bare date: its midnight
        moment = datetime.combine(moment.date(), time())
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment)


def _read_text(file: str | os.PathLike[str] | IO[str] | IO[bytes]) -> tuple[str, str]:
    """The file's text (UTF-8, BOM tolerated) and a name for the evidence."""
    if isinstance(file, str | os.PathLike):
        path = Path(file)
        return path.read_bytes().decode("utf-8-sig"), path.name
    content = file.read()
    name = Path(getattr(file, "name", "") or "upload").name
    if isinstance(content, bytes):
        content = content.decode("utf-8-sig")
    return content.removeprefix("\ufeff"), name


def import_fcc_rnd_results(
    file: str | os.PathLike[str] | IO[str] | IO[bytes],
    *,
    rejected: list[RejectedRow] | None = None,
) -> int:
    """Store each row of an FCC RND bulk result file as a check (source "fcc_rnd_file").

    `file` is a path or an open file (text or bytes). Returns how many checks were stored.
    Bad rows are appended to `rejected` (line number as a spreadsheet shows it, and why) and
    skipped. Raises RndFileError, writing nothing, when the header lacks a required column or
    this very file was imported before. Rows name a contact when one has the number. No side
    effects are applied (see `reassigned_side_effects`).
    """
    text, name = _read_text(file)
    digest = hashlib.sha256(text.encode()).hexdigest()
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = {_column_key(header): header for header in reader.fieldnames or []}
    chosen: dict[str, str] = {}
    for role, aliases in _COLUMNS.items():
        header = next((columns[alias] for alias in aliases if alias in columns), None)
        if header is not None:
            chosen[role] = header
        elif role != "queried_at":
            raise RndFileError(
                f"{name}: no {role} column (expected one of: {', '.join(aliases)}); "
                f"found: {', '.join(reader.fieldnames or []) or 'nothing'}"
            )
    earlier = (
        ReassignedNumberCheck.objects.filter(source=SOURCE_FCC_RND_FILE, raw__file_sha256=digest)
        .order_by("pk")
        .first()
    )
    if earlier is not None:
        raise RndFileError(
            f"{name}: this file was already imported on {earlier.checked_at:%Y-%m-%d %H:%M} "
            f"(check #{earlier.pk})"
        )
    now = timezone.now()
    checks: list[ReassignedNumberCheck] = []
    for row in reader:
        line = reader.line_num
        values = {role: (row.get(header) or "").strip() for role, header in chosen.items()}
        try:
            check = _check_from_row(values, now)
        except (InvalidPhoneNumber, ValueError) as exc:
            if rejected is not None:
                rejected.append(RejectedRow(line, str(exc)))
            continue
        check.raw = {"file": name, "file_sha256": digest, "line": line, "row": values}
        checks.append(check)
    contacts = _contacts_by_phone({check.phone for check in checks})
    for check in checks:
        check.contact_id = contacts.get(check.phone)
    with transaction.atomic():
        ReassignedNumberCheck.objects.bulk_create(checks, batch_size=1000)
    return len(checks)


def _check_from_row(values: dict[str, str], now: datetime) -> ReassignedNumberCheck:
    """One unsaved check from a row's values, or ValueError/InvalidPhoneNumber saying why."""
    if not values["phone"]:
        raise ValueError("the phone number is empty")
    phone = normalize_phone(values["phone"], "US")
    if not values["date"]:
        raise ValueError("the date is empty")
    asked = _parse_date(values["date"])
    answer = _RESULTS.get(" ".join(values["result"].lower().split()))
    if answer is None:
        raise ValueError(f"result “{values['result']}” is not yes, no or no data")
    checked_at = now
    if values.get("queried_at"):
        checked_at = _parse_queried_at(values["queried_at"])
        if checked_at > now + _FUTURE_TOLERANCE:
            raise ValueError(f"queried_at {values['queried_at']} is in the future")
    if asked > timezone.localdate(checked_at):
        raise ValueError(f"date {asked} is after the query ({timezone.localdate(checked_at)})")
    return ReassignedNumberCheck(
        phone=phone,
        date_asked=asked,
        answer=answer,
        source=SOURCE_FCC_RND_FILE,
        checked_at=checked_at,
    )


def _contacts_by_phone(phones: set[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    ordered = sorted(phones)
    for start in range(0, len(ordered), 1000):
        found.update(
            Contact.objects.filter(phone__in=ordered[start : start + 1000]).values_list(
                "phone", "pk"
            )
        )
    return found
