"""Home page items of the campaigns app: campaigns sending, scheduled or paused, and their held
messages by reason (one grouped query on the (campaign, status) index)."""

from __future__ import annotations

from django.db.models import Count
from django.urls import reverse

from config.lib.attention import AttentionItem, attention_provider
from messaging.models import HoldReason, MessageStatus, OutboundMessage

from .models import Campaign, CampaignStatus, Incident, IncidentStatus

ACTIVE = [CampaignStatus.SENDING, CampaignStatus.SCHEDULED, CampaignStatus.PAUSED]
SHOWN = 8


@attention_provider(order=40)
def campaigns_in_flight(request) -> list[AttentionItem]:
    if not request.user.has_perm("campaigns.view_campaign"):
        return []
    campaigns = list(Campaign.objects.filter(status__in=ACTIVE).order_by("-launched_at")[:SHOWN])
    if not campaigns:
        return []
    held: dict[int, dict[str, int]] = {c.pk: {} for c in campaigns}
    rows = (
        OutboundMessage.objects.filter(campaign__in=list(held), status=MessageStatus.HELD)
        .values_list("campaign", "reason")
        .annotate(n=Count("id"))
        .order_by()
    )
    for campaign_id, reason, n in rows:
        held[campaign_id][reason] = n
    labels = dict(HoldReason.choices)
    items = []
    for campaign in campaigns:
        reasons = held[campaign.pk]
        total = sum(reasons.values())
        lines = tuple(
            f"{n:,} held: {labels.get(reason, reason)}"
            for reason, n in sorted(reasons.items(), key=lambda r: -r[1])
        )
        items.append(
            AttentionItem(
                title=f"Campaign “{campaign.name}” is {campaign.get_status_display().lower()}",
                count=total,
                url=reverse("admin:campaigns_campaign_change", args=[campaign.pk]),
                detail="messages held" if total else "nothing held",
                severity="warning" if total else "info",
                lines=lines or ("nothing held",),
            )
        )
    return items


@attention_provider(order=5)
def open_incidents(request) -> list[AttentionItem]:
    """Open incidents first: each paused a campaign or flags a sender."""
    if not request.user.has_perm("campaigns.view_incident"):
        return []
    incidents = list(
        Incident.objects.filter(status=IncidentStatus.OPEN)
        .select_related("campaign", "sender")
        .order_by("-opened_at")[:SHOWN]
    )
    return [
        AttentionItem(
            title=f"Incident: {incident.summary} on {incident.campaign or incident.sender}",
            count=1,
            url=reverse("admin:campaigns_incident_change", args=[incident.pk]),
            detail="campaign paused" if incident.campaign_id else "sender flagged",
            severity="urgent",
        )
        for incident in incidents
    ]
