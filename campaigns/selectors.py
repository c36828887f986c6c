"""Reads of a campaign's state for its page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import (
    Count,
    DateTimeField,
    Exists,
    ExpressionWrapper,
    Min,
    OuterRef,
    Q,
    Value,
)
from django.db.models.functions import Trim, Upper

from messaging.models import InboundMessage, MessageStatus, OutboundMessage

from .models import Campaign, Flow, FlowRun, FlowRunOutcome


@dataclass(frozen=True)
class HeldGroup:
    reason: str
    count: int
    next_release: datetime | None  # the earliest a held message of this reason is tried again


def held_by_reason(campaign: Campaign) -> list[HeldGroup]:
    """The campaign's held messages by reason, with when the next of each is tried again
    (one GROUP BY on the campaign-and-status index), most first."""
    rows = (
        OutboundMessage.objects.filter(campaign=campaign, status=MessageStatus.HELD)
        .values("reason")
        .annotate(n=Count("id"), next_release=Min("next_attempt_at"))
        .order_by("-n", "reason")
    )
    return [
        HeldGroup(row["reason"] or "unspecified", row["n"], row["next_release"]) for row in rows
    ]


@dataclass(frozen=True)
class FlowSuccess:
    sent: int  # runs that queued a message
    succeeded: int  # ... followed by the flow's success event or a success reply in its window

    @property
    def rate(self) -> float | None:
        return self.succeeded / self.sent if self.sent else None


def flow_success(flow: Flow, *, since: datetime | None = None) -> FlowSuccess | None:
    """A flow's success rate: of its runs that sent, those its success event marked
    (`flows.flow_success_record`) or the person answered with one of its success replies
    within the success window. None for a flow that names no success."""
    if not flow.success_event and not flow.success_replies:
        return None
    runs = FlowRun.objects.filter(flow=flow, outcome=FlowRunOutcome.QUEUED)
    if since is not None:
        runs = runs.filter(fire_at__gte=since)
    succeeded = Q(succeeded_at__isnull=False)
    words = [str(w).strip().upper() for w in flow.success_replies or [] if str(w).strip()]
    if words:
        replies = (
            InboundMessage.objects.filter(
                contact=OuterRef("contact"),
                received_at__gt=OuterRef("fire_at"),
                received_at__lte=ExpressionWrapper(
                    OuterRef("fire_at") + Value(flow.success_window),
                    output_field=DateTimeField(),
                ),
            )
            .annotate(word=Upper(Trim("body")))
            .filter(word__in=words)
        )
        succeeded |= Q(Exists(replies))
    totals = runs.aggregate(sent=Count("id"), succeeded=Count("id", filter=succeeded))
    return FlowSuccess(sent=totals["sent"], succeeded=totals["succeeded"])
