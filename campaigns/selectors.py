"""Reads of a campaign's state for its page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Min

from messaging.models import MessageStatus, OutboundMessage

from .models import Campaign


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
