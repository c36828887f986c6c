"""The one place consent changes: every opt-in, confirmation, opt-out, suppression and erasure.

Admin actions, the API, webhooks, imports and tasks call these functions and nothing else writes
the ledger, the derived state or suppressions. Each call is one transaction that locks the
contact row first, so concurrent changes to one person serialise and the state always equals
the ledger's last event.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

# The one upward call in the layering (see messaging.consent_effects and pyproject.toml).
from messaging.consent_effects import (
    cancel_waiting_messages,
    erase_personal_data,
    webhook_emit_consent,
)

from . import sql
from .models import (
    ConsentEvent,
    ConsentKind,
    ConsentMethod,
    ConsentState,
    ConsentStatus,
    Contact,
    Disclosure,
    Program,
    Suppression,
    SuppressionReason,
    link_chains,
)
from .phones import normalize_phone, phone_hash

# Clocks disagree a little; a claim that someone acted later than that is bad input.
FUTURE_TOLERANCE = timedelta(minutes=5)
_METHODS = frozenset(ConsentMethod.values)


class ConsentError(ValueError):
    """A consent change that cannot be recorded; the message says why. Nothing was written."""

    def __init__(self, message: str, *, code: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.field = field


@dataclass(frozen=True)
class Recorded:
    """What a recording call did: the event (new or, for a repeated idempotency key, the first)."""

    event: ConsentEvent
    created: bool


def contact_get_or_create(*, phone: str, defaults: dict[str, Any] | None = None) -> Contact:
    """The contact for a number in any format, created if new. Raises InvalidPhoneNumber."""
    e164 = normalize_phone(phone)
    contact = Contact.objects.filter(phone=e164).first()
    if contact:
        return contact
    try:
        with transaction.atomic():
            return Contact.objects.create(phone=e164, **(defaults or {}))
    except IntegrityError:
        return Contact.objects.get(phone=e164)


def _resolve_contact(contact: Contact | None, phone: str | None) -> Contact:
    if contact is not None:
        return contact
    if not phone:
        raise ConsentError("A phone number is required.", code="required", field="phone")
    return contact_get_or_create(phone=phone)


def _check_provenance(method: str, source: str, occurred_at: datetime) -> None:
    if method not in _METHODS:
        raise ConsentError(
            f"“{method}” is not a consent method; use one of {', '.join(ConsentMethod.values)}.",
            code="invalid_method",
            field="method",
        )
    if not source or not source.strip():
        raise ConsentError(
            "Say where the consent came from (form URL, keyword + number, file + row, client).",
            code="missing_source",
            field="source",
        )
    if timezone.is_naive(occurred_at):
        raise ConsentError(
            "occurred_at needs a time zone.", code="naive_datetime", field="occurred_at"
        )
    if occurred_at > timezone.now() + FUTURE_TOLERANCE:
        raise ConsentError(
            f"occurred_at {occurred_at.isoformat()} is in the future.",
            code="future_datetime",
            field="occurred_at",
        )


def _record(*, program: Program, idempotency_key: str | None, **fields: Any) -> Recorded:
    """Append one ledger event and bring the derived state up to date. Caller holds the lock."""
    return _record_many(programs=[program], keys=[idempotency_key], **fields)[0]


def _record_many(
    *,
    contact: Contact,
    programs: list[Program],
    keys: list[str | None],
    kind: str,
    status: str,
    method: str,
    source: str,
    occurred_at: datetime,
    disclosure: Disclosure | None,
    evidence: dict[str, Any] | None,
    note: str,
    recorded_by,
    recorded_by_label: str,
) -> list[Recorded]:
    """Append one event per program, in one INSERT, and bring their states up to date, in one
    upsert. A program whose idempotency key was seen before gets its first event back instead.
    The caller holds the contact's lock, so no one else writes these states meanwhile."""
    seen = _events_by_key(keys)
    fresh = [
        build_event(
            contact=contact,
            program=program,
            kind=kind,
            status=status,
            method=method,
            source=source,
            occurred_at=occurred_at,
            disclosure=disclosure,
            evidence=evidence,
            note=note,
            recorded_by=recorded_by,
            recorded_by_label=recorded_by_label,
            idempotency_key=key,
        )
        for program, key in zip(programs, keys, strict=True)
        if not (key and key in seen)
    ]
    created = iter(_insert_events(fresh))
    results = [
        Recorded(seen[key], created=False) if key and key in seen else Recorded(next(created), True)
        for key in keys
    ]
    _apply_to_states([r.event for r in results if r.created])
    # Partners hear of the change through the outbox, written in this same transaction.
    webhook_emit_consent([r.event for r in results if r.created])
    return results


def _events_by_key(keys: list[str | None]) -> dict[str, ConsentEvent]:
    """The ledger events already recorded under these idempotency keys."""
    wanted = [k for k in keys if k]
    if not wanted:
        return {}
    return {e.idempotency_key: e for e in ConsentEvent.objects.filter(idempotency_key__in=wanted)}


def build_event(
    *,
    contact: Contact,
    program: Program,
    kind: str,
    status: str,
    method: str,
    source: str,
    occurred_at: datetime,
    disclosure: Disclosure | None,
    evidence: dict[str, Any] | None,
    note: str,
    recorded_by,
    recorded_by_label: str,
    idempotency_key: str | None,
) -> ConsentEvent:
    """One new ledger row as every writer records it; `_insert_events` chains and inserts it."""
    return ConsentEvent(
        contact=contact,
        phone=contact.phone,
        program=program,
        kind=kind,
        resulting_status=status,
        method=method,
        source=source.strip()[:500],
        disclosure=disclosure,
        disclosure_hash=disclosure.text_hash if disclosure else "",
        occurred_at=occurred_at,
        recorded_at=timezone.now(),
        recorded_by=recorded_by,
        recorded_by_label=recorded_by_label,
        evidence=evidence or {},
        note=note,
        idempotency_key=idempotency_key or None,
    )


_EVENT_COLUMNS = (
    "contact_id",
    "phone",
    "program_id",
    "kind",
    "resulting_status",
    "method",
    "source",
    "disclosure_id",
    "disclosure_hash",
    "occurred_at",
    "recorded_at",
    "recorded_by_id",
    "recorded_by_label",
    "evidence",
    "note",
    "idempotency_key",
    "chain_seq",
    "prev_hash",
    "chain_hash",
)


def _insert_events(events: list[ConsentEvent]) -> list[ConsentEvent]:
    """Link the new ledger rows into their contacts' hash chains (one read of the heads, under
    the contacts' locks the caller holds) and INSERT them in one statement (`config.lib.sql`: this
    is every writer's path)."""
    if not events:
        return []
    link_chains(events)
    rows = [{name: getattr(event, name) for name in _EVENT_COLUMNS} for event in events]
    for event, pk in zip(events, sql.insert(ConsentEvent, rows), strict=True):
        event.pk = pk
        sql.loaded(event)
    return events


def _apply_to_states(events: list[ConsentEvent]) -> None:
    """Each event becomes its program's current state unless a newer event already is.

    One upsert: a new state takes the event's status and time; an existing one is replaced
    only by an event at least as recent (by occurred_at, then id). `opted_in_at` is when the
    current run of being opted in began (kept across repeated opt-ins); `opted_out_at` the
    latest opt-out.
    """
    if not events:
        return
    now = timezone.now()
    rows = [
        {
            "contact_id": event.contact_id,
            "program_id": event.program_id,
            "status": event.resulting_status,
            "last_event_id": event.pk,
            "since": event.occurred_at,
            "opted_in_at": event.occurred_at
            if event.resulting_status == ConsentStatus.OPTED_IN
            else None,
            "opted_out_at": event.occurred_at
            if event.resulting_status == ConsentStatus.OPTED_OUT
            else None,
            "updated_at": now,
        }
        for event in events
    ]
    statement, adapted = sql.state_upsert_sql(sql.shape(len(rows)))
    with connection.cursor() as cursor:
        cursor.execute(statement, sql.parameters(ConsentState, adapted, sql.STATE_COLUMNS, rows))


def _locked(contact: Contact) -> Contact:
    """Lock the person's row, so concurrent changes to one person take turns; returns the
    contact as it is now. The usual case (same number, not erased) costs one short statement
    and keeps the caller's instance; otherwise every field is read afresh."""
    with connection.cursor() as cursor:
        cursor.execute(
            sql.contact_lock_sql(connection.features.has_select_for_update), [contact.pk]
        )
        row = cursor.fetchone()
    if row is None:
        raise Contact.DoesNotExist(f"Contact #{contact.pk} does not exist.")
    phone, erased = row
    if erased or phone != contact.phone or contact.erased_at:
        return Contact.objects.get(pk=contact.pk)
    return contact


def _state_of(contact: Contact, program: Program) -> ConsentState | None:
    return ConsentState.objects.filter(contact=contact, program=program).first()


def consent_opt_in(
    *,
    program: Program,
    method: str,
    source: str,
    phone: str | None = None,
    contact: Contact | None = None,
    occurred_at: datetime | None = None,
    disclosure: Disclosure | None = None,
    confirmed: bool = False,
    evidence: dict[str, Any] | None = None,
    note: str = "",
    recorded_by=None,
    recorded_by_label: str = "",
    idempotency_key: str | None = None,
) -> Recorded:
    """Record that a person opted in to `program`.

    For a double opt-in program the state stays `pending` until `consent_confirm`, unless
    `confirmed` says possession was already proven (a keyword texted from the handset).
    After an earlier opt-out the event is a `re_opt_in`. The disclosure defaults to the
    program's one in effect at `occurred_at`.
    """
    occurred_at = occurred_at or timezone.now()
    _check_opt_in(program, method, source, occurred_at, disclosure)
    disclosure = disclosure or program.current_disclosure(at=occurred_at)
    with transaction.atomic():
        contact = _locked(_resolve_contact(contact, phone))
        _refuse_erased(contact)
        previous = _state_of(contact, program)
        kind, status = _opt_in_outcome(
            program, previous.status if previous else None, confirmed=confirmed
        )
        return _record(
            contact=contact,
            program=program,
            kind=kind,
            status=status,
            method=method,
            source=source,
            occurred_at=occurred_at,
            disclosure=disclosure,
            evidence=evidence,
            note=note,
            recorded_by=recorded_by,
            recorded_by_label=recorded_by_label,
            idempotency_key=idempotency_key,
        )


def _check_opt_in(
    program: Program,
    method: str,
    source: str,
    occurred_at: datetime,
    disclosure: Disclosure | None,
) -> None:
    """The opt-in rules that need no contact: provenance, an active program, its disclosure."""
    _check_provenance(method, source, occurred_at)
    if not program.active:
        raise ConsentError(f"Program “{program}” is not active.", code="program_inactive")
    if disclosure is not None and disclosure.program_id != program.pk:
        raise ConsentError(
            f"{disclosure} belongs to another program.", code="wrong_disclosure", field="disclosure"
        )


def _opt_in_outcome(
    program: Program, previous: str | None, *, confirmed: bool
) -> tuple[ConsentKind, ConsentStatus]:
    """The kind of an opt-in event and the status it leaves, given the current status."""
    kind = ConsentKind.RE_OPT_IN if previous == ConsentStatus.OPTED_OUT else ConsentKind.OPT_IN
    needs_confirmation = program.double_opt_in and not confirmed
    status = ConsentStatus.PENDING if needs_confirmation else ConsentStatus.OPTED_IN
    if previous == ConsentStatus.OPTED_IN and needs_confirmation:
        status = ConsentStatus.OPTED_IN  # already confirmed once; a repeat form stays in
    return kind, status


# --- the batched path (imports) ---------------------------------------------------------------


@dataclass(frozen=True)
class OptIn:
    """One opt-in for `consent_opt_in_many`: what `consent_opt_in` takes for one person.

    `phone` is E.164. `contact_fields` (names, e-mail) fill the contact's blank fields, as an
    import does; a new contact is created with them.
    """

    phone: str
    program: Program
    source: str
    occurred_at: datetime
    disclosure: Disclosure | None = None
    evidence: dict[str, Any] | None = None
    idempotency_key: str | None = None
    contact_fields: dict[str, str] | None = None


def consent_opt_in_many(
    *,
    opt_ins: list[OptIn],
    method: str,
    recorded_by=None,
    recorded_by_label: str = "",
) -> list[Recorded | ConsentError]:
    """Record many opt-ins in one transaction, with the rules and result of calling
    `consent_opt_in` for each in turn (after filling the contact's blank fields).

    One answer per opt-in, in order: what `consent_opt_in` returns, or the ConsentError it
    would raise (nothing is written for that one). The contacts are created in one statement
    and locked in id order (so two batches never deadlock, and a STOP waits for at most one
    batch); the events are inserted and the states upserted a few statements per batch.
    A repeated idempotency key, in the ledger or earlier in the batch, gives the first event.
    """
    answers: list[Recorded | ConsentError | None] = [None] * len(opt_ins)
    valid: list[int] = []
    for i, item in enumerate(opt_ins):
        try:
            _check_opt_in(item.program, method, item.source, item.occurred_at, item.disclosure)
            valid.append(i)
        except ConsentError as exc:
            answers[i] = exc
    with transaction.atomic():
        contacts = _contacts_for([opt_ins[i] for i in valid])
        disclosures = _disclosures_of({opt_ins[i].program.pk for i in valid})
        states = {
            (contact_id, program_id): (status, since)
            for contact_id, program_id, status, since in ConsentState.objects.filter(
                contact_id__in=[c.pk for c in contacts.values()]
            ).values_list("contact_id", "program_id", "status", "since")
        }
        seen = _events_by_key([opt_ins[i].idempotency_key for i in valid])
        fresh: list[ConsentEvent] = []
        for i in valid:
            item = opt_ins[i]
            contact = contacts[item.phone]
            if contact.erased_at:
                answers[i] = ConsentError(f"{contact} was erased on request.", code="erased")
                continue
            pair = (contact.pk, item.program.pk)
            previous = states.get(pair)
            kind, status = _opt_in_outcome(
                item.program, previous[0] if previous else None, confirmed=False
            )
            key = item.idempotency_key
            if key and key in seen:
                answers[i] = Recorded(seen[key], created=False)
                continue
            disclosure = item.disclosure or _in_effect(disclosures, item.program, item.occurred_at)
            event = build_event(
                contact=contact,
                program=item.program,
                kind=kind,
                status=status,
                method=method,
                source=item.source,
                occurred_at=item.occurred_at,
                disclosure=disclosure,
                evidence=item.evidence,
                note="",
                recorded_by=recorded_by,
                recorded_by_label=recorded_by_label,
                idempotency_key=key,
            )
            fresh.append(event)
            if key:
                seen[key] = event
            answers[i] = Recorded(event, created=True)
            # Later in the batch this event is the state unless it is back-dated (an event
            # of this batch has a higher id than any before it, so a tie goes to it).
            if previous is None or previous[1] <= item.occurred_at:
                states[pair] = (status, item.occurred_at)
        for chunk in _chunks(fresh, 500):
            _insert_events(chunk)
        waves = _waves(fresh)
        if len(waves) > 1 and connection.vendor == "postgresql":
            # A state passes through the batch's earlier events on its way to the last one:
            # the state-follows-ledger check judges it at commit (consent migration 0013).
            sql.defer_state_check()
        for wave in waves:
            for chunk in _chunks(wave, 1000):
                _apply_to_states(chunk)
        webhook_emit_consent(fresh)
    return answers  # type: ignore[return-value]


def _contacts_for(opt_ins: list[OptIn]) -> dict[str, Contact]:
    """The contact of each number, created if new, locked in id order; blank fields filled in
    the order the opt-ins give them (what `contact_get_or_create` and a fill-in would do)."""
    wanted: dict[str, dict[str, str]] = {}
    for item in opt_ins:
        fields = wanted.setdefault(item.phone, {})
        for name, value in (item.contact_fields or {}).items():
            if value and not fields.get(name):
                fields[name] = value
    if not wanted:
        return {}
    defaults = _contact_defaults()
    for chunk in _chunks(list(wanted.items()), 500):
        rows = [
            defaults | {"phone": phone, "phone_hash": phone_hash(phone)} | fields
            for phone, fields in chunk
        ]
        sql.insert(Contact, rows, returning=False, skip_conflicts=True)
    found = Contact.objects.filter(phone__in=list(wanted)).order_by("pk")
    if connection.features.has_select_for_update:
        found = found.select_for_update()
    contacts = {c.phone: c for c in found}
    blank: dict[str, list[Contact]] = {}
    for phone, contact in contacts.items():
        changed = [n for n, v in wanted[phone].items() if v and not getattr(contact, n)]
        for name in changed:
            setattr(contact, name, wanted[phone][name])
        if changed:
            blank.setdefault(tuple(sorted(changed)), []).append(contact)
    for names, group in blank.items():
        Contact.objects.bulk_update(group, list(names), batch_size=500)
    return contacts


def _contact_defaults() -> dict[str, Any]:
    """Every column of a new contact as `Contact(...)` and its save would fill it (the field's
    default; `auto_now` fields now), for creating contacts a batch at a time."""
    now = timezone.now()
    return {
        field.attname: now
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
        else field.get_default()
        for field in Contact._meta.concrete_fields
        if not field.primary_key
    }


def _disclosures_of(program_ids: set[int]) -> dict[int, list[Disclosure]]:
    """Each program's disclosures, the one `Program.current_disclosure` would pick first."""
    by_program: dict[int, list[Disclosure]] = {}
    for d in Disclosure.objects.filter(program_id__in=program_ids).order_by(
        "-effective_at", "-version"
    ):
        by_program.setdefault(d.program_id, []).append(d)
    return by_program


def _in_effect(
    disclosures: dict[int, list[Disclosure]], program: Program, at: datetime
) -> Disclosure | None:
    return next((d for d in disclosures.get(program.pk, []) if d.effective_at <= at), None)


def _waves(events: list[ConsentEvent]) -> list[list[ConsentEvent]]:
    """The events split so no (contact, program) appears twice in one upsert, in order."""
    waves: list[list[ConsentEvent]] = []
    count: dict[tuple[int, int], int] = {}
    for event in events:
        pair = (event.contact_id, event.program_id)
        n = count.get(pair, 0)
        count[pair] = n + 1
        if n == len(waves):
            waves.append([])
        waves[n].append(event)
    return waves


def _chunks(items: list, size: int) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def consent_confirm(
    *,
    program: Program,
    method: str,
    source: str,
    phone: str | None = None,
    contact: Contact | None = None,
    occurred_at: datetime | None = None,
    evidence: dict[str, Any] | None = None,
    recorded_by=None,
    recorded_by_label: str = "",
    idempotency_key: str | None = None,
) -> Recorded:
    """Confirm a pending double opt-in (the YES reply). Raises ConsentError if none is pending."""
    occurred_at = occurred_at or timezone.now()
    _check_provenance(method, source, occurred_at)
    with transaction.atomic():
        contact = _locked(_resolve_contact(contact, phone))
        state = _state_of(contact, program)
        if state is None or state.status != ConsentStatus.PENDING:
            raise ConsentError(
                f"{contact} has no pending opt-in to {program} to confirm.", code="not_pending"
            )
        return _record(
            contact=contact,
            program=program,
            kind=ConsentKind.OPT_IN_CONFIRMED,
            status=ConsentStatus.OPTED_IN,
            method=method,
            source=source,
            occurred_at=occurred_at,
            disclosure=state.last_event.disclosure,
            evidence=evidence,
            note="",
            recorded_by=recorded_by,
            recorded_by_label=recorded_by_label,
            idempotency_key=idempotency_key,
        )


def consent_revoke(
    *,
    method: str,
    source: str,
    programs: list[Program] | None = None,
    revoke_all: bool = False,
    phone: str | None = None,
    contact: Contact | None = None,
    occurred_at: datetime | None = None,
    evidence: dict[str, Any] | None = None,
    note: str = "",
    recorded_by=None,
    recorded_by_label: str = "",
    suppression_reason: str = SuppressionReason.OPT_OUT_ALL,
    idempotency_key: str | None = None,
) -> list[Recorded]:
    """Record an opt-out, however it arrived (STOP, free text, API, agent, carrier 21610).

    `programs` names what is revoked; `revoke_all=True` revokes every program the contact has
    a consent state for and adds a suppression for the number across all programs, so programs
    created later are covered too. An opt-out is written even if no opt-in was ever recorded:
    the person's wish is the record. Returns one `Recorded` per program.
    """
    occurred_at = occurred_at or timezone.now()
    _check_provenance(method, source, occurred_at)
    if not programs and not revoke_all:
        raise ConsentError("Name the programs to revoke, or all.", code="required", field="program")
    with transaction.atomic():
        contact = _locked(_resolve_contact(contact, phone))
        targets = {p.pk: p for p in programs or []}
        if revoke_all:
            for state in contact.consent_states.select_related("program"):
                targets.setdefault(state.program_id, state.program)
        results = _record_many(
            contact=contact,
            programs=list(targets.values()),
            keys=[_derived_key(idempotency_key, pk) for pk in targets],
            kind=ConsentKind.OPT_OUT,
            status=ConsentStatus.OPTED_OUT,
            method=method,
            source=source,
            occurred_at=occurred_at,
            disclosure=None,
            evidence=evidence,
            note=note,
            recorded_by=recorded_by,
            recorded_by_label=recorded_by_label,
        )
        # What is still waiting for this person is cancelled in this same transaction; dispatch
        # re-checks consent right before each hand-off for what is already in flight.
        cancel_waiting_messages(
            contact=contact, programs=None if revoke_all else list(targets.values())
        )
        if revoke_all and contact.phone:
            suppression_add(
                phone=contact.phone,
                reason=suppression_reason,
                evidence=evidence,
                note=note,
                created_by=recorded_by,
                created_by_label=recorded_by_label or source,
            )
        return results


def _derived_key(key: str | None, program_id: int) -> str | None:
    if not key:
        return None
    return hashlib.sha256(f"{key}:{program_id}".encode()).hexdigest()


def _refuse_erased(contact: Contact) -> None:
    if contact.erased_at:
        raise ConsentError(f"{contact} was erased on request.", code="erased")


def suppression_add(
    *,
    phone: str,
    reason: str,
    program: Program | None = None,
    evidence: dict[str, Any] | None = None,
    note: str = "",
    created_by=None,
    created_by_label: str = "",
) -> Suppression:
    """Suppress a number (all programs, or one). An identical active entry is reused."""
    if reason not in SuppressionReason.values:
        raise ConsentError(f"“{reason}” is not a suppression reason.", code="invalid_reason")
    e164 = normalize_phone(phone)
    existing = (
        Suppression.objects.unlifted()
        .filter(phone_hash=phone_hash(e164), program=program, reason=reason)
        .first()
    )
    if existing:
        return existing
    return Suppression.objects.create(
        phone=e164,
        reason=reason,
        program=program,
        evidence=evidence or {},
        note=note,
        created_by=created_by,
        created_by_label=created_by_label,
    )


def suppression_lift(*, suppression: Suppression, by, note: str) -> bool:
    """Lift an active suppression (a guarded update). False if it was already lifted."""
    if not note.strip():
        raise ConsentError("Say why the suppression is lifted.", code="required", field="note")
    return bool(
        Suppression.objects.unlifted()
        .filter(pk=suppression.pk)
        .update(lifted_at=timezone.now(), lifted_by=by, lift_note=note)
    )


def contact_erase(*, contact: Contact, by=None, request_ref: str = "") -> Contact:
    """Honour a privacy erasure request.

    Blanks the personal fields and the number on the contact (and, through messaging, the IP
    address and user agent of their link clicks), keeps the consent ledger (a legal record) and
    adds a suppression keyed by the number's hash, so that a later re-import of the number can
    never message the person.
    """
    with transaction.atomic():
        # Every field is rewritten below: read them all, fresh, under the lock.
        contact = Contact.objects.select_for_update().get(pk=contact.pk)
        if contact.erased_at:
            return contact
        if contact.phone:
            suppression = suppression_add(
                phone=contact.phone,
                reason=SuppressionReason.LEGAL_REQUEST,
                note=f"Erasure request {request_ref}".strip(),
                created_by=by,
                created_by_label="erasure",
            )
            Suppression.objects.filter(phone_hash=suppression.phone_hash).update(phone=None)
        contact.first_name = contact.last_name = contact.email = ""
        contact.postal_code = contact.time_zone = ""
        contact.attributes = {}
        contact.phone = None
        contact.erased_at = timezone.now()
        contact.save()
        contact.tags.clear()
        erase_personal_data(contact=contact)
        return contact
