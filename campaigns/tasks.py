"""django-q2 tasks of the campaigns app: plain functions taking ids and calling services."""

from __future__ import annotations

from django.utils import timezone

from messaging.queueing import enqueue

from .fanout import fanout_all
from .models import Campaign, CampaignStatus
from .services import campaign_start_if_due


def fanout_campaign(campaign_id: int) -> int:
    """Fan the campaign out (resumable), then start dispatch workers."""
    campaign = Campaign.objects.get(pk=campaign_id)
    if campaign.status == CampaignStatus.CANCELLED:
        return 0
    written = fanout_all(campaign)
    for _ in range(2):
        enqueue("messaging.tasks.dispatch")
    return written


def start_due_campaigns() -> int:
    """Scheduled campaigns whose time has come start sending (every minute)."""
    started = 0
    for campaign in Campaign.objects.filter(status=CampaignStatus.SCHEDULED):
        started += campaign_start_if_due(campaign=campaign, now=timezone.now())
    return started
