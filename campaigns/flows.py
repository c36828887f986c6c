"""Flows: an event about a person arrives, the flows it triggers decide whether and when to text.

`flow_event_record` is the one entry point (the events API, the opt-in acknowledgement and the
monthly reminder task call it). For each active flow whose trigger is the event's type and
whose conditions hold, it writes one `FlowRun` saying what was decided::

    conditions not met ------------------------> (no run at all)
    fire time too long past, no approved version,
    anchor missing or not a time, token missing -> skipped (reason)
    the gate refuses now ----------------------> blocked (reason, the blocked message)
    otherwise ---------------------------------> queued  (the message, due at fire_at)

A queued message waits in the outbound queue until `fire_at`; dispatch then re-checks consent
and applies quiet hours and caps, like any other message. An opt-out meanwhile cancels it.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from consent.models import Contact, MessageType, Program
from messaging.models import MessageKind, MessageStatus
from messaging.queueing import enqueue
from messaging.services import message_queue
from messaging.timezones import is_known_zone
from templates.rendering import MissingTokenError, contact_token_values

from .models import (
    EVENT_TYPE_PATTERN,
    MONTHLY_REMINDER_EVENT,
    OPTED_IN_EVENT,
    Flow,
    FlowEvent,
    FlowRun,
    FlowRunOutcome,
)

#: Condition operators: what each asks of the event's value.
OPS = ("eq", "ne", "in", "exists", "gt", "gte", "lt", "lte", "contains")
#: Events the product raises itself: their data has no times to anchor to.
INTERNAL_EVENTS = (OPTED_IN_EVENT, MONTHLY_REMINDER_EVENT)
#: A partner's order: also recorded as a conversion (messaging.conversions).
CONVERSION_EVENT = "conversion.recorded"
#: How far from its anchor a flow may send (a reminder a quarter ahead is already odd).
MAX_OFFSET = timedelta(days=90)

_PATH = re.compile(r"[a-z_][a-z0-9_]*(\.[a-z0-9_]+)*\Z", re.IGNORECASE)
_MISSING = object()


class SkipReason(models.TextChoices):
    """Why a flow whose conditions held sent nothing (`FlowRun.reason`)."""

    TOO_LATE = "too_late", "Its time passed too long ago"
    NO_APPROVED_VERSION = "no_approved_version", "The template has no approved version"
    ANCHOR_MISSING = "anchor_missing", "The event has no value for the anchor"
    ANCHOR_INVALID = "anchor_invalid", "The anchor is not a datetime with an offset"
    MISSING_TOKEN = "missing_token", "A personalization value is missing"


# --- Conditions -----------------------------------------------------------------------------


def _lookup(event: FlowEvent, field: str) -> Any:
    """The value `field` names ("type" or "data.a.b"), or `_MISSING`."""
    if field == "type":
        return event.type
    value: Any = event.data
    for key in field.removeprefix("data.").split("."):
        if not isinstance(value, dict) or key not in value:
            return _MISSING
        value = value[key]
    return value


def as_datetime(value: Any) -> datetime | None:
    """An aware datetime from a datetime or an ISO 8601 string with an offset, else None."""
    if isinstance(value, datetime):
        return value if timezone.is_aware(value) else None
    if not isinstance(value, str):
        return None
    try:
        parsed = parse_datetime(value)
    except ValueError:
        return None
    return parsed if parsed is not None and timezone.is_aware(parsed) else None


def _comparable(value: Any) -> float | datetime | None:
    """Numbers compare as numbers, ISO datetimes as datetimes; anything else not at all."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    return as_datetime(value)


def _same(a: Any, b: Any) -> bool:
    left, right = as_datetime(a), as_datetime(b)
    if left is not None and right is not None:
        return left == right
    return a == b


def condition_holds(event: FlowEvent, condition: dict[str, Any]) -> bool:
    """Whether one `{field, op, value}` holds for the event. A missing field fails every op
    except `ne` and `exists: false`; values of different kinds never order (`gt` is False)."""
    op, expected = condition.get("op"), condition.get("value")
    actual = _lookup(event, str(condition.get("field", "")))
    if op == "exists":
        present = actual is not _MISSING and actual is not None
        return present is (expected is not False)
    if actual is _MISSING:
        return op == "ne"
    if op == "eq":
        return _same(actual, expected)
    if op == "ne":
        return not _same(actual, expected)
    if op == "in":
        return isinstance(expected, list) and any(_same(actual, o) for o in expected)
    if op == "contains":
        if isinstance(actual, str):
            return isinstance(expected, str) and expected in actual
        if isinstance(actual, list | dict):
            return expected in actual
        return False
    if op not in ("gt", "gte", "lt", "lte"):
        return False  # a malformed condition (the admin refuses them) never matches
    left, right = _comparable(actual), _comparable(expected)
    if left is None or right is None or isinstance(left, datetime) != isinstance(right, datetime):
        return False
    return {
        "gt": left > right,
        "gte": left >= right,
        "lt": left < right,
        "lte": left <= right,
    }[op]


def conditions_hold(event: FlowEvent, conditions: list[dict[str, Any]]) -> bool:
    return all(condition_holds(event, c) for c in conditions or [])


def conditions_problems(conditions: Any) -> list[str]:
    """What is wrong with a flow's `conditions`, one readable sentence each (empty: fine)."""
    if not isinstance(conditions, list):
        return ['A list of {"field", "op", "value"} objects, e.g. '
                '[{"field": "data.source", "op": "eq", "value": "website"}].']  # fmt: skip
    problems = []
    for n, condition in enumerate(conditions, start=1):
        if not isinstance(condition, dict):
            problems.append(f"Condition {n} is not an object.")
            continue
        unknown = set(condition) - {"field", "op", "value"}
        if unknown:
            problems.append(f"Condition {n} has unknown keys: {', '.join(sorted(unknown))}.")
        field, op = condition.get("field"), condition.get("op")
        if not isinstance(field, str) or not (
            field == "type" or (field.startswith("data.") and _PATH.match(field[5:]))
        ):
            problems.append(f'Condition {n}: field must be "type" or "data.<key>", not {field!r}.')
        if op not in OPS:
            problems.append(f"Condition {n}: op must be one of {', '.join(OPS)}, not {op!r}.")
            continue
        value = condition.get("value")
        if op == "exists":
            if "value" in condition and not isinstance(value, bool):
                problems.append(f"Condition {n}: exists takes true or false.")
        elif "value" not in condition:
            problems.append(f"Condition {n}: {op} needs a value.")
        elif op == "in" and not isinstance(value, list):
            problems.append(f"Condition {n}: in takes a list of values.")
        elif op in ("gt", "gte", "lt", "lte") and _comparable(value) is None:
            problems.append(
                f"Condition {n}: {op} compares numbers or ISO datetimes with an offset, "
                f"not {value!r}."
            )
        elif op == "contains" and isinstance(value, dict | list):
            problems.append(f"Condition {n}: contains takes one value.")
    return problems


def flow_problems(flow: Flow) -> dict[str, list[str]]:
    """Field -> problems for a flow about to be saved (the admin form shows them per field)."""
    problems: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        problems.setdefault(field, []).append(message)

    if flow.trigger and not re.match(EVENT_TYPE_PATTERN, flow.trigger):
        add("trigger", "An event type such as lead.created (lowercase, dotted).")
    for problem in conditions_problems(flow.conditions):
        add("conditions", problem)
    if flow.template_id and flow.program_id and flow.template.program_id != flow.program_id:
        add("template", "The template belongs to another program.")
    anchor = (flow.anchor or "").strip()
    offset = flow.offset or timedelta(0)
    if anchor and not _PATH.match(anchor):
        add("anchor", "A key of the event's data, e.g. appointment_at.")
    if anchor and flow.trigger in INTERNAL_EVENTS:
        add("anchor", f"{flow.trigger} events carry no times to count from; leave it blank.")
    if not anchor and offset < timedelta(0):
        add("offset", "Without an anchor the flow counts from when the event occurred, which "
                      "has already passed: a negative offset needs an anchor.")  # fmt: skip
    if abs(offset) > MAX_OFFSET:
        add("offset", f"At most {MAX_OFFSET.days} days before or after.")
    if flow.max_lateness is not None and flow.max_lateness < timedelta(0):
        add("max_lateness", "Cannot be negative.")
    replies = flow.success_replies or []
    if not isinstance(replies, list) or not all(isinstance(r, str) and r.strip() for r in replies):
        add("success_replies", 'A list of replies, e.g. ["C", "YES"].')
    if flow.success_window is not None and flow.success_window <= timedelta(0):
        add("success_window", "Must be longer than zero.")
    return problems


def flow_validate(flow: Flow) -> None:
    """Raise a ValidationError naming each field with a problem."""
    problems = flow_problems(flow)
    if problems:
        raise ValidationError(problems)


class FlowError(ValueError):
    """A change to a flow that is refused; the message says why. Nothing was changed."""


def flow_set_active(*, flow: Flow, active: bool) -> bool:
    """Switch a flow on or off (a guarded update); False if it already was.

    A flow is switched on only when it is valid and its template has an approved version to
    send (FlowError otherwise): an active flow that can only skip is a silent gap.
    """
    if active:
        problems = flow_problems(flow)
        if problems:
            raise FlowError(f"“{flow}”: {' '.join(p for ps in problems.values() for p in ps)}")
        if flow.template.approved_version is None:
            raise FlowError(f"“{flow}” has no approved version of its template to send.")
    return bool(
        Flow.objects.filter(pk=flow.pk, active=not active).update(
            active=active, updated_at=timezone.now()
        )
    )


# --- Firing ---------------------------------------------------------------------------------


def flow_event_record(
    *,
    type: str,
    contact: Contact,
    occurred_at: datetime,
    data: dict[str, Any],
    client=None,
    program: Program | None = None,
) -> tuple[FlowEvent, list[FlowRun]]:
    """Store an event and fire the flows it triggers (only `program`'s flows, if given).

    One transaction per event: the event, its runs and their messages commit together.
    Returns the event and one run per flow whose conditions held.
    """
    if timezone.is_naive(occurred_at):
        raise ValueError("occurred_at needs a time zone.")
    with transaction.atomic():
        event = FlowEvent.objects.create(
            type=type, contact=contact, occurred_at=occurred_at, data=data or {}, client=client
        )
        flow_success_record(contact=contact, event_type=type, at=occurred_at)
        return event, flow_event_fire(event=event, program=program)


def flow_success_record(*, contact: Contact, event_type: str, at: datetime) -> int:
    """Mark the person's runs of flows whose success event is `event_type` as succeeded: each
    run that sent a message within the flow's success window before `at`. Returns how many."""
    marked = 0
    for flow in Flow.objects.filter(success_event=event_type).only("pk", "success_window"):
        marked += FlowRun.objects.filter(
            flow=flow,
            contact=contact,
            outcome=FlowRunOutcome.QUEUED,
            succeeded_at__isnull=True,
            fire_at__lte=at,
            fire_at__gte=at - flow.success_window,
        ).update(succeeded_at=at)
    return marked


def flow_event_fire(*, event: FlowEvent, program: Program | None = None) -> list[FlowRun]:
    """Fire the event's flows; a flow that already ran for this event is not run again.

    Returns every run of the event's matching flows, earlier ones included.
    """
    flows = Flow.objects.filter(trigger=event.type, active=True).select_related(
        "program", "template"
    )
    if program is not None:
        flows = flows.filter(program=program)
    runs: list[FlowRun] = []
    queued_now = False
    with transaction.atomic():
        # The event's row lock serialises two firings of one event.
        FlowEvent.objects.select_for_update().filter(pk=event.pk).first()
        done = {run.flow_id: run for run in FlowRun.objects.filter(event=event)}
        for flow in flows.order_by("pk"):
            if flow.pk in done:
                runs.append(done[flow.pk])
                continue
            if not conditions_hold(event, flow.conditions):
                continue
            run = _run(flow, event, event.contact)
            runs.append(run)
            queued_now |= run.outcome == FlowRunOutcome.QUEUED and run.fire_at <= timezone.now()
    if queued_now:
        enqueue("messaging.tasks.dispatch")
    return runs


def flow_fire_scheduled(*, flow: Flow, contact: Contact, version=None) -> FlowRun:
    """Fire `flow` for `contact` with no event (the monthly reminder): due now.

    `version` is the template's approved version, when the caller already read it once for a
    batch. The caller makes sure the person has not had this flow recently.
    """
    return _run(flow, None, contact, version=version)


def fire_time(flow: Flow, event: FlowEvent | None) -> tuple[datetime | None, str]:
    """(when the flow's message is due, "") or (None, the skip reason)."""
    base: datetime | None = event.occurred_at if event is not None else timezone.now()
    if flow.anchor:
        raw = _lookup(event, f"data.{flow.anchor}") if event is not None else _MISSING
        if raw is _MISSING or raw in (None, ""):
            return None, SkipReason.ANCHOR_MISSING
        base = as_datetime(raw)
        if base is None:
            return None, SkipReason.ANCHOR_INVALID
    return base + flow.offset, ""


def _run(flow: Flow, event: FlowEvent | None, contact: Contact, *, version=None) -> FlowRun:
    now = timezone.now()
    fire_at, reason = fire_time(flow, event)
    if fire_at is not None and fire_at < now - flow.max_lateness:
        reason = SkipReason.TOO_LATE
    if not reason:
        version = version or flow.template.approved_version
        if version is None:
            reason = SkipReason.NO_APPROVED_VERSION
    body = ""
    if not reason:
        try:
            body = render_for(version, contact, event)
        except MissingTokenError:
            reason = SkipReason.MISSING_TOKEN
    if reason:
        return _save_run(
            flow=flow,
            event=event,
            contact=contact,
            fire_at=fire_at or (event.occurred_at if event is not None else now),
            outcome=FlowRunOutcome.SKIPPED,
            reason=reason,
            template_version=version,
        )
    message = message_queue(
        contact=contact,
        program=flow.program,
        body=body,
        kind=MessageKind.FLOW,
        message_type=_message_type(flow),
        template_version=version,
        send_at=fire_at,
        flow=flow,
    )
    blocked = message.status == MessageStatus.BLOCKED
    return _save_run(
        flow=flow,
        event=event,
        contact=contact,
        fire_at=fire_at,
        outcome=FlowRunOutcome.BLOCKED if blocked else FlowRunOutcome.QUEUED,
        reason=message.reason if blocked else "",
        template_version=version,
        message=message,
    )


def _message_type(flow: Flow) -> str | None:
    # An opt-in confirmation answers the person's own act, like a JOIN reply: it goes at once,
    # not at 8 am. Every other flow sends as its program's type (quiet hours and caps apply).
    return MessageType.CUSTOMER_CARE if flow.trigger == OPTED_IN_EVENT else None


def _save_run(**fields: Any) -> FlowRun:
    # No race to lose: an event's caller holds its row lock (the unique constraint backs it),
    # the monthly reminder task its flow's.
    return FlowRun.objects.create(**fields)


def event_values(data: dict[str, Any]) -> dict[str, Any]:
    """The event's data for tokens: ISO datetimes become datetimes, so `:time` formats them."""
    return {key: as_datetime(value) or value for key, value in (data or {}).items()}


def render_for(version, contact: Contact, event: FlowEvent | None) -> str:
    """The version's body for this person and event. Raises MissingTokenError.

    Times show in the contact's own time zone when they told us one, else as the partner sent
    them (an appointment's time is the shop's local time, which is what the person booked).
    """
    values = contact_token_values(
        contact, event=event_values(event.data) if event is not None else None
    )
    zone = contact.time_zone if contact.time_zone and is_known_zone(contact.time_zone) else None
    return version.compiled.render(values, tz=zone)


__all__ = [
    "OPS",
    "FlowError",
    "SkipReason",
    "condition_holds",
    "conditions_problems",
    "flow_event_fire",
    "flow_event_record",
    "flow_fire_scheduled",
    "flow_problems",
    "flow_set_active",
    "flow_validate",
    "render_for",
]
