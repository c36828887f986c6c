"""Importing contacts with their consent from CSV or XLSX (django-import-export).

One row is one person's opt-in to one program::

    phone, program, opted_in_at, method, source          required: the provenance
    first_name, last_name (or name), email               optional: filled on the contact if blank
    disclosure_version, ip, user_agent                   optional

Each good row becomes one ledger event through `consent.services.consent_opt_in`, with method
``import`` and source ``"<file> row <n>"`` (n as a spreadsheet numbers rows: the header is row 1);
the file's own method, source and time are kept in the event's evidence. A row is rejected, with
its number and the reasons, when its provenance is missing, its program or disclosure version is
unknown, its time cannot be read or its phone number is invalid; nothing is written for it.

Every row carries an idempotency key derived from its content (number, program, time, method,
source), so importing the same file again adds nothing: those rows are reported as skipped.

The dry run (the admin's preview, ``import_consent --dry-run``) goes through the same service
calls, each inside a savepoint that is rolled back at once: the preview reports exactly what the
import would do and holds no locks. The real import commits row by row (`use_transactions =
False`): a long import never holds the contact-row locks that an incoming STOP needs, and a
re-run after a failure picks up where it stopped.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from functools import lru_cache
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.validators import validate_email, validate_ipv46_address
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import get_language
from import_export import resources
from import_export.fields import Field
from import_export.results import Error, RowResult

from config.lib.text import without_controls

from . import services
from .contacts import number_erased
from .models import (
    ConsentEvent,
    ConsentMethod,
    Contact,
    Disclosure,
    Program,
)
from .phones import InvalidPhoneNumber, normalize_phone

REQUIRED_COLUMNS = ("phone", "program", "opted_in_at", "method", "source")
OPTIONAL_COLUMNS = (
    "first_name",
    "last_name",
    "name",
    "email",
    "disclosure_version",
    "ip",
    "user_agent",
)
COLUMNS = (
    "phone",
    "first_name",
    "last_name",
    "name",
    "email",
    "program",
    "opted_in_at",
    "method",
    "source",
    "disclosure_version",
    "ip",
    "user_agent",
)
NAME_MAX_LENGTH = Contact._meta.get_field("first_name").max_length

# Where a service refusal belongs in the file.
_COLUMN_OF_FIELD = {"occurred_at": "opted_in_at", "disclosure": "disclosure_version"}
_COLUMN_OF_CODE = {"program_inactive": "program", "erased": "phone"}


logger = logging.getLogger(__name__)

#: Distinct phone cells whose reading a file's import remembers.
PHONE_CACHE_SIZE = 10_000
UNEXPECTED_ERROR = "This could not be imported because of an error on our side; it was logged."


class ReasonOnlyError(Error):
    """An import error as staff see it: the row (as import-export keeps it) and the reason,
    never a traceback (server paths, code). Our own refusals (ValidationError, ValueError)
    keep their message; anything else is logged with its traceback and shown as
    `UNEXPECTED_ERROR`."""

    def __init__(self, error: Exception, row=None, number=None) -> None:
        if not isinstance(error, ValidationError | ValueError):
            logger.error("Consent import failed unexpectedly", exc_info=error)
            error = ValueError(UNEXPECTED_ERROR)
        super().__init__(error, row=row, number=number)

    @property
    def traceback(self) -> str:
        return ""


class _RolledBack(Exception):
    """Leaves a dry-run row's savepoint, undoing its writes and releasing its locks."""


@dataclass
class RowPlan:
    """A row read and checked, ready for the service."""

    phone: str
    program: Program
    occurred_at: datetime
    disclosure: Disclosure | None
    contact_fields: dict[str, str]
    evidence: dict[str, Any]
    key: str
    line: int


def row_key(phone: str, program: Program, occurred_at: datetime, method: str, source: str) -> str:
    """The idempotency key of an imported opt-in: the same consent always gives the same key."""
    moment = occurred_at.astimezone(UTC).isoformat()
    content = "\x1f".join(("import", phone, program.slug, moment, method, source))
    return hashlib.sha256(content.encode()).hexdigest()


def parse_opted_in_at(value: Any) -> datetime:
    """A spreadsheet date-time, an ISO 8601 string or a date (midnight), made aware.

    Without an offset the time is read in the default time zone (settings.TIME_ZONE).
    Raises ValueError with a readable message.
    """
    moment: datetime | None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time.min)
    else:
        text = str(value).strip()
        try:
            moment = parse_datetime(text)
            if moment is None and (day := parse_date(text)) is not None:
                moment = datetime.combine(day, time.min)
        except ValueError:  # well-formed but impossible, e.g. 2025-02-30
            moment = None
        if moment is None:
            raise ValueError(
                f"“{text}” is not a date and time: use ISO 8601, "
                "e.g. 2025-01-15 14:30 or 2025-01-15T14:30:00-05:00."
            )
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


def _method_of(text: str) -> str | None:
    return _method_named(text.strip().casefold(), get_language())


@lru_cache(maxsize=256)
def _method_named(wanted: str, language: str | None) -> str | None:
    """The method a cell names, by value or label (labels are read once per language)."""
    for value, label in ConsentMethod.choices:
        if wanted in (value, str(label).casefold()):
            return value
    return None


def _text(value: Any) -> str:
    """A cell as text: control characters dropped (a NUL could not even be stored), then trimmed."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a spreadsheet's 2.0 for 2
    return without_controls(str(value)).strip()


class ConsentImportResource(resources.ModelResource):
    """Contacts with consent, one opt-in per row; see the module docstring for the contract.

    Constructor kwargs: `source_label` names the file in each event's source when the caller
    has no file name (the admin and `import_consent` pass ``file_name`` to `import_data`, which
    is used otherwise); `recorded_by_label` is stored on each event. ``user`` passed to
    `import_data` (the admin does) becomes the events' `recorded_by`; ``line_numbers`` (the
    file's row number of each dataset row) is for callers that import a file in slices.

    Use one instance per file: it remembers the rows it has seen, so that a repeated row is
    skipped in a dry run too, across slices.
    """

    # The attributes are what the admin preview shows for a row once it is recorded.
    phone = Field(attribute="phone", column_name="phone")
    first_name = Field(attribute="contact__first_name", column_name="first_name")
    last_name = Field(attribute="contact__last_name", column_name="last_name")
    name = Field(attribute="contact__full_name", column_name="name")
    email = Field(attribute="contact__email", column_name="email")
    program = Field(attribute="program__slug", column_name="program")
    opted_in_at = Field(attribute="occurred_at", column_name="opted_in_at")
    method = Field(attribute="evidence__original_method", column_name="method")
    source = Field(attribute="evidence__original_source", column_name="source")
    disclosure_version = Field(attribute="disclosure__version", column_name="disclosure_version")
    ip = Field(attribute="evidence__ip", column_name="ip")
    user_agent = Field(attribute="evidence__user_agent", column_name="user_agent")

    class Meta:
        model = ConsentEvent
        name = "Contacts with consent"
        fields = COLUMNS
        import_order = COLUMNS
        # Every good row is a new event; existing ones are found by idempotency key instead.
        force_init_instance = True
        use_transactions = False  # row by row: see the module docstring

    def __init__(
        self, *, source_label: str | None = None, recorded_by_label: str = "import", **kwargs
    ) -> None:
        super().__init__(**kwargs)
        self.source_label = source_label
        self.recorded_by_label = recorded_by_label
        self._programs: dict[str, Program] = {}
        self._disclosures: dict[tuple[int, int], Disclosure] = {}
        self._seen_keys: set[str] = set()
        self._phones: dict[tuple[type, Any], tuple[str, tuple | None]] = {}
        self._file_label = source_label or "import"
        self._user = None
        self._row_existed = False

    def get_error_result_class(self) -> type[Error]:
        return ReasonOnlyError

    # --- import-export hooks, in the order they run -------------------------------------------

    def before_import(self, dataset, **kwargs) -> None:
        dataset.headers = [_text(h).lower() for h in dataset.headers or []]
        self._file_label = self.source_label or kwargs.get("file_name") or "import"
        self._user = kwargs.get("user")
        self._programs = {p.slug: p for p in Program.objects.all()}
        self._disclosures = {(d.program_id, d.version): d for d in Disclosure.objects.all()}
        missing = [c for c in REQUIRED_COLUMNS if c not in dataset.headers]
        if missing:
            raise ValueError(
                f"The file has no {', '.join(missing)} column. Required columns: "
                f"{', '.join(REQUIRED_COLUMNS)}; optional: {', '.join(OPTIONAL_COLUMNS)}."
            )

    def import_instance(self, instance: ConsentEvent, row, **kwargs) -> None:
        """Read and check the row (no writes); raise ValidationError naming each bad column."""
        # A caller that skips blank rows or reads in slices passes each row's real number.
        lines = kwargs.get("line_numbers")
        line = lines[kwargs["row_number"] - 1] if lines else kwargs["row_number"] + 1
        plan = self.plan_row(row, line=line)
        instance._import_plan = plan
        instance.phone = plan.phone
        instance.program = plan.program
        instance.occurred_at = plan.occurred_at
        instance.disclosure = plan.disclosure
        instance.method = ConsentMethod.IMPORT
        instance.evidence = plan.evidence

    def skip_row(self, instance, original, row, import_validation_errors=None) -> bool:
        """Skip a row already imported: by this run, or before (its key is in the ledger)."""
        if import_validation_errors:
            return False
        plan: RowPlan = instance._import_plan
        if plan.key in self._seen_keys:
            return True
        imported = ConsentEvent.objects.filter(idempotency_key=plan.key)
        if not imported.exists():
            return False
        if not self._meta.skip_diff:  # the preview shows the event already recorded
            _show(instance, imported.select_related("contact", "program", "disclosure").get())
        return True

    def save_instance(self, instance, is_create, row, **kwargs) -> None:
        """Record the opt-in through the service; a refusal becomes the row's ValidationError."""
        plan: RowPlan = instance._import_plan
        created = False
        try:
            with transaction.atomic():
                event, created = self._record(plan)
                if self._is_dry_run(kwargs):
                    raise _RolledBack
        except _RolledBack:
            pass
        except services.ConsentError as exc:
            if exc.field:
                column = _COLUMN_OF_FIELD.get(exc.field, exc.field)
            else:
                column = _COLUMN_OF_CODE.get(exc.code, NON_FIELD_ERRORS)
            raise ValidationError({column: str(exc)}) from exc
        self._seen_keys.add(plan.key)
        # Another import of the same rows got there first (the service found the key).
        self._row_existed = not created
        _show(instance, event)

    def after_import_row(self, row, row_result, **kwargs) -> None:
        if self._row_existed and row_result.import_type == RowResult.IMPORT_TYPE_NEW:
            row_result.import_type = RowResult.IMPORT_TYPE_SKIP
        self._row_existed = False

    def after_import(self, dataset, result, **kwargs) -> None:
        # ModelResource resets the id sequence here (for imports that carry ids). Ours never do,
        # and outside a transaction a reset could hand out ids that concurrent writers hold.
        return None

    # --- reading a row ------------------------------------------------------------------------

    def plan_row(self, row: dict[str, Any], *, line: int) -> RowPlan:
        """Check one row and return what to record; raise ValidationError naming each bad column.

        `line` is the row's number as a spreadsheet shows it (header = 1), for the source.
        """
        errors: dict[str, list] = {}

        def fail(column: str, error: str | ValidationError) -> None:
            errors.setdefault(column, []).append(error)

        phone = ""
        raw_phone = row.get("phone")
        if _text(raw_phone) == "":
            fail("phone", "Required: the phone number.")
        else:
            try:
                phone = self._normalized(raw_phone)
            except InvalidPhoneNumber as exc:
                fail("phone", exc)

        program = None
        slug = _text(row.get("program"))
        if not slug:
            fail("program", "Required: the program's slug, e.g. offers.")
        else:
            program = self._programs.get(slug) or self._programs.get(slug.lower())
            if program is None:
                known = ", ".join(sorted(self._programs)) or "none yet"
                fail("program", f"No program “{slug}” (programs: {known}).")

        occurred_at = None
        if _text(row.get("opted_in_at")) == "":
            fail("opted_in_at", "Required: when the person opted in, e.g. 2025-01-15 14:30.")
        else:
            try:
                occurred_at = parse_opted_in_at(row["opted_in_at"])
            except ValueError as exc:
                fail("opted_in_at", str(exc))

        method_text = _text(row.get("method"))
        method = _method_of(method_text) if method_text else None
        if not method_text:
            fail("method", f"Required: how consent was given ({', '.join(ConsentMethod.values)}).")
        elif method is None:
            fail(
                "method",
                f"“{method_text}” is not a consent method; use one of "
                f"{', '.join(ConsentMethod.values)}.",
            )

        source = _text(row.get("source"))
        if not source:
            fail("source", "Required: where consent was given (form URL, keyword + number, ...).")

        disclosure = None
        version_text = _text(row.get("disclosure_version"))
        if version_text:
            number = version_text.removeprefix("v").removeprefix("V")
            if not number.isdigit():
                fail("disclosure_version", f"“{version_text}” is not a version number, e.g. 2.")
            elif program is not None:
                disclosure = self._disclosures.get((program.pk, int(number)))
                if disclosure is None:
                    versions = sorted(v for p, v in self._disclosures if p == program.pk)
                    have = ", ".join(map(str, versions)) or "none"
                    fail(
                        "disclosure_version",
                        f"Program “{program.slug}” has no disclosure version {number} "
                        f"(versions: {have}).",
                    )

        contact_fields = self._contact_fields(row, fail)
        evidence: dict[str, Any] = {}
        ip = _text(row.get("ip"))
        if ip:
            try:
                validate_ipv46_address(ip)
                evidence["ip"] = ip
            except ValidationError:
                fail("ip", f"“{ip}” is not an IP address.")
        if user_agent := _text(row.get("user_agent")):
            evidence["user_agent"] = user_agent

        if errors:
            raise ValidationError(errors)
        assert program is not None and occurred_at is not None and method is not None
        evidence |= {
            "original_method": method,
            "original_source": source,
            "opted_in_at_as_given": _text(row.get("opted_in_at")),
            "file": self._file_label,
            "row": line,
        }
        return RowPlan(
            phone=phone,
            program=program,
            occurred_at=occurred_at,
            disclosure=disclosure,
            contact_fields=contact_fields,
            evidence=evidence,
            key=row_key(phone, program, occurred_at, method, source),
            line=line,
        )

    def _normalized(self, raw: Any) -> str:
        """`normalize_phone`, parsed once per distinct cell of this file (a list often names
        one person once per program); raises InvalidPhoneNumber as it does."""
        key = (type(raw), raw)
        if key not in self._phones:
            if len(self._phones) >= PHONE_CACHE_SIZE:
                self._phones.clear()
            try:
                self._phones[key] = (normalize_phone(raw), None)
            except InvalidPhoneNumber as exc:
                self._phones[key] = ("", (exc.raw, exc.reason))
        e164, refusal = self._phones[key]
        if refusal:
            raise InvalidPhoneNumber(*refusal)
        return e164

    def _contact_fields(self, row: dict[str, Any], fail) -> dict[str, str]:
        first, last = _text(row.get("first_name")), _text(row.get("last_name"))
        if not (first or last) and (name := _text(row.get("name"))):
            first, _, last = name.partition(" ")
            last = last.strip()
        fields = {}
        for column, value in (("first_name", first), ("last_name", last)):
            if len(value) > NAME_MAX_LENGTH:
                column_shown = column if _text(row.get(column)) else "name"
                fail(column_shown, f"Longer than {NAME_MAX_LENGTH} characters.")
            elif value:
                fields[column] = value
        if email := _text(row.get("email")):
            try:
                validate_email(email)
                fields["email"] = email
            except ValidationError:
                fail("email", f"“{email}” is not an e-mail address.")
        return fields

    # --- writing ------------------------------------------------------------------------------

    def _record(self, plan: RowPlan) -> tuple[ConsentEvent, bool]:
        if number_erased(plan.phone):
            # Re-importing an old list must not bring back a person who asked to be erased.
            raise ValidationError(
                {"phone": f"“{plan.phone}” is suppressed on a legal or privacy request."}
            )
        contact = services.contact_get_or_create(phone=plan.phone, defaults=plan.contact_fields)
        blank = [name for name in plan.contact_fields if not getattr(contact, name)]
        if blank:
            for name in blank:
                setattr(contact, name, plan.contact_fields[name])
            contact.save(update_fields=blank)
        recorded = services.consent_opt_in(
            contact=contact,
            program=plan.program,
            method=ConsentMethod.IMPORT,
            source=f"{self._file_label} row {plan.line}",
            occurred_at=plan.occurred_at,
            disclosure=plan.disclosure,
            evidence=plan.evidence,
            recorded_by=self._user if getattr(self._user, "pk", None) else None,
            recorded_by_label=self.recorded_by_label,
            idempotency_key=plan.key,
        )
        return recorded.event, recorded.created


class ConsentBatchImportResource(ConsentImportResource):
    """The same import without the per-row preview diff, for commands and scripts (faster)."""

    class Meta(ConsentImportResource.Meta):
        skip_diff = True


def _show(instance: ConsentEvent, event: ConsentEvent) -> None:
    """Make the row's instance stand for `event`, for the preview and the admin's log entries."""
    for model_field in ConsentEvent._meta.concrete_fields:
        setattr(instance, model_field.attname, getattr(event, model_field.attname))
    for relation in ("contact", "program", "disclosure"):
        descriptor = getattr(ConsentEvent, relation)
        if descriptor.is_cached(event):
            setattr(instance, relation, getattr(event, relation))
    instance._state.adding = False
    instance._state.db = event._state.db
