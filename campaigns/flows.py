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

A queued run succeeds when the flow's success event about the person (`flow_success_record`)
or one of its success replies from them (`flow_success_reply`, told by the inbound handler)
follows its fire time within the flow's success window: the run's `succeeded_at` is the one
mark the success rate and the `flow_success` counter read.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import models, transaction
from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from config.lib.process_cache import ProcessCache
from config.lib.queueing import enqueue
from consent.models import Contact, MessageType, Program
from messaging import counters
from messaging.models import InboundMessage, MessageKind, MessageStatus, OutboundMessage
from messaging.services import message_queue
from messaging.timezones import is_known_zone
from templates.rendering import MissingTokenError, contact_token_values

from .flow_rules import (
    MISSING,
    OPS,
    OPTED_IN_EVENT,
    as_datetime,
    condition_holds,
    conditions_hold,
    conditions_problems,
    event_value,
    flow_problems,
    flow_validate,
    success_reply_word,
)
from .models import Flow, FlowEvent, FlowRun, FlowRunOutcome

#: How long a process trusts its list of flows' success replies (an edit shows up after this).
SUCCESS_REPLIES_CACHE_SECONDS = 15.0
_success_replies: ProcessCache[dict[str, dict[int, timedelta]]] = ProcessCache(
    "flow success replies", seconds=SUCCESS_REPLIES_CACHE_SECONDS
)


class SkipReason(models.TextChoices):
    """Why a flow whose conditions held sent nothing (`FlowRun.reason`)."""

    TOO_LATE = "too_late", "Its time passed too long ago"
    NO_APPROVED_VERSION = "no_approved_version", "The template has no approved version"
    ANCHOR_MISSING = "anchor_missing", "The event has no value for the anchor"
    ANCHOR_INVALID = "anchor_invalid", "The anchor is not a datetime with an offset"
    MISSING_TOKEN = "missing_token", "A personalization value is missing"


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
    """Mark the person's runs of flows whose success event is `event_type` as succeeded
    (`_runs_succeed`). Returns how many."""
    windows = dict(
        Flow.objects.filter(success_event=event_type).values_list("pk", "success_window")
    )
    return _runs_succeed(contact_id=contact.pk, at=at, windows=windows)


def flow_success_reply(message: InboundMessage) -> int:
    """A reply that is one of a flow's success replies marks the person's runs of that flow as
    succeeded, at the time it was received (`_runs_succeed`); whatever else it does (a YES also
    confirms consent, a C may open a conversation) is handled as usual. Returns how many.

    Registered in `messaging.inbound.reply_hooks`: it runs on every reply, so it asks the
    database only when the reply is a flow's success reply (a process cache of them).
    """
    windows = _flows_by_success_reply().get(success_reply_word(message.body))
    if not windows:
        return 0
    return _runs_succeed(contact_id=message.contact_id, at=message.received_at, windows=windows)


def _flows_by_success_reply() -> dict[str, dict[int, timedelta]]:
    """{reply: {flow id: success window}} of every flow naming success replies, switched on or
    off (a run of a flow switched off meanwhile still succeeds within its window, as with a
    success event), read at most once per `SUCCESS_REPLIES_CACHE_SECONDS` per process."""

    def load() -> dict[str, dict[int, timedelta]]:
        found: dict[str, dict[int, timedelta]] = defaultdict(dict)
        flows = Flow.objects.exclude(success_replies=[]).values_list(
            "pk", "success_replies", "success_window"
        )
        for pk, replies, window in flows:
            for reply in replies or []:
                if word := success_reply_word(str(reply)):
                    found[word][pk] = window
        return dict(found)

    return _success_replies.get_or_load("flows", load)


def _runs_succeed(*, contact_id: int, at: datetime, windows: dict[int, timedelta]) -> int:
    """The one success rule, for a success event and a success reply alike: mark the person's
    runs of these flows ({flow id: success window}) that queued a message due within the
    window before `at` as succeeded at `at`, and count each once (`flow_success`), on its run's
    day as its other counts are; the rebuild counts the marked runs (`flow_run_counts`).
    Returns how many.

    The runs are locked before they are marked, so two successes at once count a run once.
    """
    if not windows:
        return 0
    due = Q()
    for flow_id, window in windows.items():
        due |= Q(flow_id=flow_id, fire_at__gte=at - window)
    with transaction.atomic(savepoint=False):
        runs = list(
            FlowRun.objects.select_for_update()
            .filter(
                due,
                contact_id=contact_id,
                outcome=FlowRunOutcome.QUEUED,
                succeeded_at__isnull=True,
                fire_at__lte=at,
            )
            .order_by("pk")
            .values_list("pk", "flow_id", "created_at")
        )
        if not runs:
            return 0
        FlowRun.objects.filter(pk__in=[pk for pk, _, _ in runs]).update(succeeded_at=at)
        tally = counters.Tally()
        for _, flow_id, created_at in runs:
            tally.add(day=counters.utc_day(created_at), dims={"flow": flow_id}, flow_success=1)
        tally.flush()
    return len(runs)


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


def _consent_event_answered(event: FlowEvent | None) -> list[int]:
    """The opt-in a `consent.opted_in` flow's message confirms: the dispatcher records it as
    confirmed once the provider accepts the message (`messaging.keyword_replies`)."""
    if event is None or event.type != OPTED_IN_EVENT:
        return []
    pk = (event.data or {}).get("consent_event_id")
    return [int(pk)] if str(pk).isdigit() else []


def fire_time(flow: Flow, event: FlowEvent | None) -> tuple[datetime | None, str]:
    """(when the flow's message is due, "") or (None, the skip reason)."""
    base: datetime | None = event.occurred_at if event is not None else timezone.now()
    if flow.anchor:
        raw = event_value(event, f"data.{flow.anchor}") if event is not None else MISSING
        if raw is MISSING or raw in (None, ""):
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
    confirms = _consent_event_answered(event)
    message = message_queue(
        contact=contact,
        program=flow.program,
        body=body,
        kind=MessageKind.FLOW,
        message_type=_message_type(flow),
        template_version=version,
        send_at=fire_at,
        event_data={"confirms": confirms} if confirms else None,
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
    with transaction.atomic():
        run = FlowRun.objects.create(**fields)
        counters.bump(
            day=counters.utc_day(run.created_at),
            dims={"flow": run.flow_id},
            **counters.flow_run_metrics(run.outcome, run.reason),
        )
    return run


def campaign_targeted_counts():
    """Fan-out's `targeted` counters, for `messaging.counters.rebuild` (registered by the app):
    the campaign's messages by the day fan-out wrote them."""
    rows = (
        OutboundMessage.objects.filter(kind=MessageKind.CAMPAIGN, campaign__isnull=False)
        .annotate(day=TruncDate("created_at", tzinfo=UTC))
        .values_list("day", "campaign_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    for day, campaign_id, n in rows.iterator():
        yield day, {"campaign": campaign_id}, {"targeted": n}


def flow_run_counts():
    """The flow runs' counters, for `messaging.counters.rebuild` (registered by the app)."""
    runs = FlowRun.objects.values_list("flow_id", "outcome", "reason", "created_at", "succeeded_at")
    for flow_id, outcome, reason, created_at, succeeded_at in runs.iterator():
        metrics = counters.flow_run_metrics(outcome, reason)
        if succeeded_at is not None:
            metrics["flow_success"] = metrics.get("flow_success", 0) + 1
        yield counters.utc_day(created_at), {"flow": flow_id}, metrics


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
    "flow_success_reply",
    "flow_validate",
    "render_for",
]
