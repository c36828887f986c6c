"""Reads about consent that everything else reuses. `can_message` is the one gate.

Every sender, the API and admin actions ask `can_message` before a message is handed to a
provider; nothing else decides whether a number may be texted. `eligible_contacts` is the same
rule as a set-based queryset, for audiences and fan-out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import connection, models
from django.db.models import QuerySet
from django.utils import timezone

from config.lib.process_cache import ProcessCache

from . import sql
from .models import (
    ConsentEvent,
    ConsentKind,
    ConsentStatus,
    Contact,
    MessageType,
    Program,
    Suppression,
)
from .phones import InvalidPhoneNumber, normalize_phone, phone_hash


class Reason(models.TextChoices):
    """Why a message may or may not go: the one reason enum. Stable codes: the API, decision
    logs and blocked messages show them.

    The gate (`can_message`, `gate`) answers `OK` or one of the consent reasons; the others are
    why messaging or campaigns refuse a message (`messaging.models.BlockReason` is this enum).
    """

    OK = "ok", "Allowed"
    # The consent gate's refusals.
    INVALID_PHONE = "invalid_phone", "Invalid phone number"
    PROGRAM_INACTIVE = "program_inactive", "Program inactive"
    MESSAGE_TYPE_NOT_COVERED = "message_type_not_covered", "Message type not covered by the program"
    SUPPRESSED = "suppressed", "Number suppressed"
    NO_CONSENT = "no_consent", "No consent"
    PENDING_CONFIRMATION = "pending_confirmation", "Opt-in pending confirmation"
    OPTED_OUT = "opted_out", "Opted out"
    # Refusals about the message itself, or its sending.
    REASSIGNED = "reassigned", "Number reassigned"
    MISSING_TOKEN = "missing_token", "Missing personalization value"
    CONTENT_CHECK = "content_check", "Content check"
    NOT_APPROVED = "not_approved", "Template version not approved"
    NO_SENDER = "no_sender", "No active sender for the program"
    CANCELLED_BY_OPT_OUT = "cancelled_by_opt_out", "Recipient opted out"
    CAMPAIGN_CANCELLED = "campaign_cancelled", "Campaign cancelled"
    FREQUENCY_PREFERENCE = "frequency_preference", "Over the person's chosen frequency"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: Reason
    phone: str | None = None

    def __bool__(self) -> bool:
        return self.allowed


def _standing(e164: str, program: Program, at: datetime) -> tuple[str | None, bool, bool]:
    """(state's status, whether that state began by `at`, suppressed at `at`): one statement,
    on every consent check (the API's among them)."""
    moment = connection.ops.adapt_datetimefield_value(at)
    hashed = phone_hash(e164)
    with connection.cursor() as cursor:
        cursor.execute(
            sql.standing_sql(), [moment, hashed, program.pk, moment, moment, e164, program.pk]
        )
        status, began, suppressed = cursor.fetchone()
    return status, bool(began), bool(suppressed)


def _status_from_ledger(e164: str, program: Program, at: datetime) -> str | None:
    """What the ledger says the state was at `at` (asked about another moment than now)."""
    event = (
        ConsentEvent.objects.filter(phone=e164, program=program, occurred_at__lte=at)
        .exclude(kind=ConsentKind.PREFERENCE)  # a preference change never changes consent
        .order_by("-occurred_at", "-id")
        .only("resulting_status")
        .first()
    )
    return event.resulting_status if event else None


_RECENT = timezone.timedelta(minutes=1)


#: How long a process trusts a program it read by slug (the partner API's consent check).
PROGRAM_CACHE_SECONDS = 15.0
_programs: ProcessCache[Program] = ProcessCache("programs by slug", seconds=PROGRAM_CACHE_SECONDS)


def program_by_slug(slug: str) -> Program:
    """The program named `slug`, read at most every `PROGRAM_CACHE_SECONDS` per process.

    For read-only answers on hot paths; an admin change shows after that long. Raises
    Program.DoesNotExist.
    """
    return _programs.get_or_load(slug, lambda: Program.objects.get(slug=slug))


def can_message(
    phone: str, program: Program, message_type: str | None = None, at: datetime | None = None
) -> Decision:
    """May `phone` be sent a `message_type` message of `program` at `at` (default now)?

    Checks, in order: the number parses; the program is active and covers the message type; no
    active suppression for the number (all programs, or this one); the consent state. Past
    moments are answered from the ledger.
    """
    now = timezone.now()
    at = at or now
    message_type = message_type or program.message_type
    try:
        e164 = normalize_phone(phone)
    except InvalidPhoneNumber:
        return Decision(False, Reason.INVALID_PHONE)
    if not program.active:
        return Decision(False, Reason.PROGRAM_INACTIVE, e164)
    if not program.covers(message_type):
        return Decision(False, Reason.MESSAGE_TYPE_NOT_COVERED, e164)
    status, began, suppressed = _standing(e164, program, at)
    if suppressed:
        return Decision(False, Reason.SUPPRESSED, e164)
    if status is not None and not (began and at >= now - _RECENT):
        status = _status_from_ledger(e164, program, at)
    if status == ConsentStatus.OPTED_OUT:
        return Decision(False, Reason.OPTED_OUT, e164)
    if message_type == MessageType.CUSTOMER_CARE:
        return Decision(True, Reason.OK, e164)
    if status == ConsentStatus.OPTED_IN:
        return Decision(True, Reason.OK, e164)
    if status == ConsentStatus.PENDING:
        return Decision(False, Reason.PENDING_CONFIRMATION, e164)
    return Decision(False, Reason.NO_CONSENT, e164)


def eligible_contacts(
    program: Program, message_type: str | None = None, at: datetime | None = None
) -> QuerySet[Contact]:
    """Contacts `can_message` would allow (audiences, flows): `Contact.objects.eligible_for`."""
    return Contact.objects.eligible_for(program, message_type, at)


#: Ledger kinds that give consent (an opt-out or a preference change never does).
OPT_IN_KINDS = (ConsentKind.OPT_IN, ConsentKind.RE_OPT_IN, ConsentKind.OPT_IN_CONFIRMED)


def latest_opt_ins(contact: Contact) -> dict[int, ConsentEvent]:
    """Per program id, the contact's latest event that gave consent (with its disclosure).

    One query for all programs: what support and partners see as "how consent was given".
    """
    latest: dict[int, ConsentEvent] = {}
    for event in (
        contact.consent_events.filter(kind__in=OPT_IN_KINDS)
        .select_related("disclosure")
        .order_by("-occurred_at", "-id")
    ):
        latest.setdefault(event.program_id, event)
    return latest


def consent_overview(contact: Contact) -> list[dict]:
    """Per program, what support needs at a glance: status, since, how, from where, disclosure."""
    states = {
        s.program_id: s
        for s in contact.consent_states.select_related(
            "last_event__disclosure", "last_event__recorded_by", "program"
        )
    }
    opt_ins = latest_opt_ins(contact) if states else {}
    return [
        {
            "program": program,
            "state": states.get(program.pk),
            "opt_in": opt_ins.get(program.pk) if program.pk in states else None,
        }
        for program in Program.objects.all()
    ]


def contact_suppressions(contact: Contact) -> list[Suppression]:
    """Every suppression of the person's number, active first, then newest (lifted ones too,
    with who lifted them): keyed by the number's hash, so entries made before an erasure or
    without a contact are found as well."""
    if not contact.phone_hash:
        return []
    entries = Suppression.objects.filter(phone_hash=contact.phone_hash).select_related(
        "program", "created_by", "lifted_by"
    )
    return sorted(entries, key=lambda s: (not s.is_active, -s.created_at.timestamp()))


def gate(
    *,
    contact_id: int,
    contact_phone_hash: str,
    program: Program,
    message_type: str,
    at: datetime | None = None,
) -> Reason:
    """`can_message` for a known contact, in one round trip: what dispatch asks before hand-off.

    Same answer as `can_message(contact.phone, program, message_type)` (held together by
    tests/consent/test_gate_equivalence.py), without parsing the number; one fixed statement
    (`consent.sql.gate_sql`, docs/performance.md#queries-on-hot-paths).
    """
    if not program.active:
        return Reason.PROGRAM_INACTIVE
    if not program.covers(message_type):
        return Reason.MESSAGE_TYPE_NOT_COVERED
    moment = connection.ops.adapt_datetimefield_value(at or timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(
            sql.gate_sql(), [contact_id, program.pk, contact_phone_hash, program.pk, moment, moment]
        )
        status, suppressed = cursor.fetchone()
    if suppressed:
        return Reason.SUPPRESSED
    if status == ConsentStatus.OPTED_OUT:
        return Reason.OPTED_OUT
    if message_type == MessageType.CUSTOMER_CARE or status == ConsentStatus.OPTED_IN:
        return Reason.OK
    if status == ConsentStatus.PENDING:
        return Reason.PENDING_CONFIRMATION
    return Reason.NO_CONSENT
