"""django-q2 tasks of the campaigns app: plain functions taking ids and calling services."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from config.lib.queueing import enqueue
from consent.models import ConsentState, ConsentStatus, Contact
from consent.selectors import eligible_contacts

from .fanout import fanout_all
from .flow_rules import MONTHLY_REMINDER_EVENT
from .flows import flow_fire_scheduled
from .incidents import incidents_check
from .models import Campaign, CampaignStatus, Flow, FlowRun
from .registrations.review import program_review_due
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


#: How often a subscriber of a recurring program is reminded how to stop (at least monthly:
#: docs/rules.md#keywords-and-replies), and how long after opting in the first reminder
#: comes: the opt-in confirmation already said how to stop.
REMINDER_INTERVAL = timedelta(days=30)
REMINDER_CHUNK = 1000


def send_monthly_reminders() -> dict[str, int]:
    """Queue each active monthly-reminder flow for its program's subscribers who are due (hourly).

    Due: opted in to the flow's program (and not suppressed) for at least `REMINDER_INTERVAL`,
    and no run of this flow for them within `REMINDER_INTERVAL`. The run is written with its
    message, so running every hour reminds each person at most once per interval. Contacts go
    in id order, `REMINDER_CHUNK` per transaction; each chunk holds the flow's row lock, so
    two overlapping runs cannot both remind the same person. A flow whose template has no
    approved version is passed over until it has one.
    """
    counts = {"flows": 0, "queued": 0, "blocked": 0, "skipped": 0, "no_approved_version": 0}
    flows = Flow.objects.filter(trigger=MONTHLY_REMINDER_EVENT, active=True)
    for flow_id in flows.order_by("pk").values_list("pk", flat=True):
        counts["flows"] += 1
        after = 0
        while ids := _remind_chunk(flow_id, after, counts):
            after = ids[-1]
    if counts["queued"]:
        enqueue("messaging.tasks.dispatch")
    return counts


def _remind_chunk(flow_id: int, after: int, counts: dict[str, int]) -> list[int]:
    """Remind the next chunk of due subscribers with ids above `after`; their ids (none: done)."""
    with transaction.atomic():
        flow = (
            Flow.objects.select_for_update(of=("self",))
            .select_related("program", "template")
            .get(pk=flow_id)
        )
        if not flow.active:
            return []
        version = flow.template.approved_version
        if version is None:
            counts["no_approved_version"] += 1
            return []
        ids = list(_due_for_reminder(flow).filter(pk__gt=after)[:REMINDER_CHUNK])
        for contact in Contact.objects.filter(pk__in=ids).order_by("pk"):
            run = flow_fire_scheduled(flow=flow, contact=contact, version=version)
            counts[run.outcome] += 1
        return ids


def _due_for_reminder(flow: Flow) -> QuerySet[int]:
    """Ids of the flow's program's subscribers due a reminder, in id order."""
    cutoff = timezone.now() - REMINDER_INTERVAL
    long_enough = ConsentState.objects.filter(
        contact=OuterRef("pk"),
        program=flow.program_id,
        status=ConsentStatus.OPTED_IN,
        opted_in_at__lte=cutoff,
    )
    reminded = FlowRun.objects.filter(flow=flow, contact=OuterRef("pk"), created_at__gt=cutoff)
    return (
        eligible_contacts(flow.program)
        .filter(Exists(long_enough))
        .exclude(Exists(reminded))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def run_program_reviews() -> int:
    """The schedule's program review: every registration whose cadence has come round."""
    return len(program_review_due())


def check_incidents() -> dict:
    """Open incidents for sending campaigns (pausing them) and senders (every minute)."""
    return incidents_check()
