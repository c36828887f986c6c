"""Reads of a campaign's state for its page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Min, Q

from messaging.models import MessageStatus, OutboundMessage

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
    succeeded: int  # ... marked succeeded (its success event or a success reply in its window)

    @property
    def rate(self) -> float | None:
        return self.succeeded / self.sent if self.sent else None


def flow_success(flow: Flow, *, since: datetime | None = None) -> FlowSuccess | None:
    """A flow's success rate: of its runs that sent, those marked succeeded (`succeeded_at`,
    set by its success event or a success reply: `flows._runs_succeed`, the rule the
    `flow_success` counter follows too). None for a flow that names no success."""
    if not flow.success_event and not flow.success_replies:
        return None
    runs = FlowRun.objects.filter(flow=flow, outcome=FlowRunOutcome.QUEUED)
    if since is not None:
        runs = runs.filter(fire_at__gte=since)
    totals = runs.aggregate(
        sent=Count("id"), succeeded=Count("id", filter=Q(succeeded_at__isnull=False))
    )
    return FlowSuccess(sent=totals["sent"], succeeded=totals["succeeded"])
