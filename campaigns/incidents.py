"""Incidents: a sending campaign whose outcomes go wrong is paused before it does more harm.

A sending campaign is checked right after each dispatch batch that sent for it
(`incident_check_after_batch`, one of messaging's batch hooks), so a bad batch pauses it before
the worker's next batch is claimed (one another worker already claimed finishes, as after any
pause); and every minute by the `incidents_check()` schedule, which also sees the outcomes that
status callbacks and opt-outs bring in between batches. A check reads the campaign's daily
counters since launch (one indexed range read, never the message table) and its last incident,
and measures, once at least `INCIDENT_MIN_SAMPLE` messages were sent:

- the opt-out rate: opt-outs attributed to the campaign / sent (`INCIDENT_OPT_OUT_RATE`, 2%);
- the carrier-filtering share: messages failed with 30007 / sent (`INCIDENT_FILTERED_SHARE`, 5%);
- the failure rate: failed and undelivered / sent and refused (`INCIDENT_FAILURE_RATE`, 10%).

The first threshold passed opens an `Incident` and pauses the campaign (its ordinary pause
transition) in one transaction, with the evidence (the counts, the window, a few example
messages or opt-outs) and the partners' `incident.opened` webhook. A campaign has at most one
open incident. A person resolves it, saying why: the campaign resumes (`incident_resolve`), and
the counts at that moment are kept, so the next check judges only what was sent after it (a
resumed campaign is not paused again at once for the same messages).

Senders are checked the same way by the schedule, on today's counters (UTC); their incident
pauses nothing and is resolved by a person once understood (at most one per sender and kind a
day).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from consent.models import ConsentEvent, ConsentKind
from messaging.models import DailyCount, MessageStatus, OutboundMessage, Sender
from messaging.partner_webhooks import webhook_emit

from .models import Campaign, CampaignStatus, Incident, IncidentKind, IncidentStatus
from .services import CampaignError, campaign_pause, campaign_resume

logger = logging.getLogger(__name__)

FILTERED = 30007
EXAMPLES = 5


class IncidentError(ValueError):
    """An incident change that is not allowed; the message says why."""


@dataclass(frozen=True)
class Outcomes:
    sent: int
    rejected: int
    failed: int
    undelivered: int
    filtered: int
    opt_outs: int

    @classmethod
    def from_counts(cls, counts: dict[str, int]) -> Outcomes:
        return cls(
            sent=counts.get("sent", 0),
            rejected=counts.get("rejected", 0),
            failed=counts.get("failed", 0),
            undelivered=counts.get("undelivered", 0),
            filtered=counts.get(f"error:{FILTERED}", 0),
            opt_outs=counts.get("opt_outs", 0),
        )

    def since(self, earlier: dict[str, int] | None) -> Outcomes:
        """The outcomes after `earlier` (counts stored when the last incident was resolved)."""
        if not earlier:
            return self
        return Outcomes(**{k: v - earlier.get(k, 0) for k, v in self.__dict__.items()})

    def breach(self) -> tuple[str, float, float] | None:
        """(kind, rate, threshold) of the first threshold passed, or None."""
        if self.sent < settings.INCIDENT_MIN_SAMPLE:
            return None
        attempted = self.sent + self.rejected
        checks = [
            (IncidentKind.OPT_OUT_RATE, self.opt_outs / self.sent, settings.INCIDENT_OPT_OUT_RATE),
            (
                IncidentKind.FILTERED_SHARE,
                self.filtered / self.sent,
                settings.INCIDENT_FILTERED_SHARE,
            ),
            (
                IncidentKind.FAILURE_RATE,
                (self.failed + self.undelivered) / attempted,
                settings.INCIDENT_FAILURE_RATE,
            ),
        ]
        for kind, rate, threshold in checks:
            if rate > threshold:
                return kind, rate, threshold
        return None


def _counts(scope: str, key: int, since: date) -> dict[str, int]:
    rows = (
        DailyCount.objects.filter(scope=scope, key=key, day__gte=since)
        .values_list("metric")
        .annotate(n=Sum("count"))
        .order_by()
    )
    return dict(rows)


def _examples(kind: str, *, campaign: Campaign | None, sender: Sender | None, since) -> list:
    """A few messages (or opt-outs) behind the figure: bounded reads on indexed columns."""
    if kind == IncidentKind.OPT_OUT_RATE:
        program_id = campaign.program_id if campaign else None
        events = ConsentEvent.objects.filter(kind=ConsentKind.OPT_OUT, occurred_at__gte=since)
        if program_id:
            events = events.filter(program_id=program_id)
        return [
            {"consent_event": pk, "method": method, "at": at.isoformat()}
            for pk, method, at in events.order_by("-occurred_at").values_list(
                "pk", "method", "occurred_at"
            )[:EXAMPLES]
        ]
    messages = OutboundMessage.objects.filter(
        status__in=[MessageStatus.FAILED, MessageStatus.UNDELIVERED]
    )
    if campaign is not None:
        messages = messages.filter(campaign=campaign)
    else:
        messages = messages.filter(sender=sender, sent_at__gte=since)
    if kind == IncidentKind.FILTERED_SHARE:
        messages = messages.filter(error_code=FILTERED)
    return [
        {"message": pk, "status": status, "error_code": code}
        for pk, status, code in messages.order_by().values_list("pk", "status", "error_code")[
            :EXAMPLES
        ]
    ]


def _evidence(outcomes: Outcomes, since, examples: list) -> dict:
    return {
        "window": {"from": since.isoformat(), "to": timezone.now().isoformat()},
        "counts": outcomes.__dict__,
        "min_sample": settings.INCIDENT_MIN_SAMPLE,
        "examples": examples,
    }


def _webhook(incident: Incident) -> None:
    webhook_emit(
        event_type="incident.opened",
        data={
            "incident_id": incident.pk,
            "kind": incident.kind,
            "campaign_id": incident.campaign_id,
            "sender_id": incident.sender_id,
            "rate": round(incident.rate, 4),
            "threshold": incident.threshold,
            "counts": incident.evidence.get("counts", {}),
        },
        occurred_at=incident.opened_at,
    )


def incident_check_campaign(campaign: Campaign) -> Incident | None:
    """Open an incident and pause the campaign if its outcomes pass a threshold."""
    since = (campaign.launched_at or campaign.created_at).date()
    outcomes = Outcomes.from_counts(_counts("campaign", campaign.pk, since))
    # After a person resolved an incident, only what was sent since counts.
    last = campaign.incidents.order_by("-opened_at", "-id").first()
    if last is not None and last.status == IncidentStatus.OPEN:
        return None
    if last is not None:
        outcomes = outcomes.since(last.evidence.get("counts_at_resolution"))
    breach = outcomes.breach()
    if breach is None:
        return None
    kind, rate, threshold = breach
    started = campaign.launched_at or campaign.created_at
    evidence = _evidence(
        outcomes, started, _examples(kind, campaign=campaign, sender=None, since=started)
    )
    note = f"Paused by an incident: {IncidentKind(kind).label.lower()} {rate:.1%} > {threshold:.1%}"
    try:
        with transaction.atomic():
            incident = Incident.objects.create(
                kind=kind, campaign=campaign, rate=rate, threshold=threshold, evidence=evidence
            )
            campaign_pause(campaign=campaign, by=None, note=note)
            _webhook(incident)
    except (CampaignError, IntegrityError):
        return None  # paused or cancelled meanwhile, or another check opened it first
    logger.warning("Incident %s: campaign %s paused (%s)", incident.pk, campaign.pk, note)
    return incident


def incident_check_sender(sender: Sender, *, today: date | None = None) -> Incident | None:
    """Open an incident (no pause) if the sender's outcomes today pass a threshold."""
    today = today or timezone.now().date()
    outcomes = Outcomes.from_counts(_counts("sender", sender.pk, today))
    breach = outcomes.breach()
    if breach is None:
        return None
    kind, rate, threshold = breach
    # One a day per sender and kind: resolved today, it stays resolved until tomorrow.
    start_of_day = datetime.combine(today, time.min, tzinfo=UTC)
    if Incident.objects.filter(
        sender=sender, campaign=None, kind=kind, opened_at__gte=start_of_day
    ).exists():
        return None
    if Incident.objects.filter(sender=sender, campaign=None, kind=kind, status="open").exists():
        return None
    since = timezone.now() - timedelta(days=1)
    evidence = _evidence(
        outcomes, since, _examples(kind, campaign=None, sender=sender, since=since)
    )
    try:
        with transaction.atomic():
            incident = Incident.objects.create(
                kind=kind, sender=sender, rate=rate, threshold=threshold, evidence=evidence
            )
            _webhook(incident)
    except IntegrityError:
        return None
    return incident


def incident_check_after_batch(*, campaign_id: int) -> Incident | None:
    """Check a campaign a dispatch batch just sent for (a `messaging.tasks` batch hook).

    Registered after `campaign_complete_if_done`: a campaign that batch completed has nothing
    left to pause, so only one still sending is checked. Cheap enough for every batch: the
    campaign's row, its counters' range read and its last incident.
    """
    campaign = Campaign.objects.filter(pk=campaign_id, status=CampaignStatus.SENDING).first()
    if campaign is None:
        return None
    return incident_check_campaign(campaign)


def incidents_check() -> dict:
    """Check every sending campaign and every active sender (the schedule's entry point)."""
    opened = {"campaigns": 0, "senders": 0}
    for campaign in Campaign.objects.filter(status=CampaignStatus.SENDING):
        opened["campaigns"] += incident_check_campaign(campaign) is not None
    for sender in Sender.objects.filter(active=True):
        opened["senders"] += incident_check_sender(sender) is not None
    return opened


def incident_resolve(*, incident: Incident, by, why: str) -> Incident:
    """Close the incident, recording who and why; a campaign's resumes sending."""
    why = (why or "").strip()
    if not why:
        raise IncidentError("Say why the incident is resolved (what was checked or changed).")
    now = timezone.now()
    evidence = dict(incident.evidence)
    if incident.campaign_id:
        started = Campaign.objects.filter(pk=incident.campaign_id).values_list(
            "launched_at", "created_at"
        )[0]
        since = (started[0] or started[1]).date()
        counts = Outcomes.from_counts(_counts("campaign", incident.campaign_id, since))
        evidence["counts_at_resolution"] = counts.__dict__  # the next check starts from here
    with transaction.atomic():
        updated = Incident.objects.filter(pk=incident.pk, status=IncidentStatus.OPEN).update(
            status=IncidentStatus.RESOLVED,
            resolved_at=now,
            resolved_by=by,
            resolution_note=why,
            evidence=evidence,
        )
        if not updated:
            raise IncidentError("This incident is already resolved.")
        campaign = Campaign.objects.filter(pk=incident.campaign_id).first()
        if campaign is not None and campaign.status == CampaignStatus.PAUSED:
            try:
                campaign_resume(campaign=campaign, by=by, note=f"Incident resolved: {why}")
            except CampaignError as exc:
                raise IncidentError(str(exc)) from exc
    incident.refresh_from_db()
    return incident


__all__ = [
    "IncidentError",
    "Outcomes",
    "incident_check_after_batch",
    "incident_check_campaign",
    "incident_check_sender",
    "incident_resolve",
    "incidents_check",
]
