"""Campaign transitions: launch, pause, resume, cancel, complete, and test sends.

Each transition is a guarded conditional UPDATE plus a `CampaignEvent` row, in one
transaction; an invalid one raises `CampaignError` and changes nothing.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from config.lib.queueing import enqueue
from consent.models import MessageType
from consent.phones import normalize_phone
from consent.services import contact_get_or_create
from messaging.models import BlockReason, MessageEvent, MessageKind, MessageStatus, OutboundMessage
from messaging.models.outbound import WAITING
from messaging.services import message_queue
from templates.checks import has_blockers
from templates.models import VersionStatus
from templates.rendering import LINK_TOKENS, contact_token_values

from .audiences import AudienceFilterError, audience_contacts
from .fanout import FanoutError, campaign_start
from .models import Campaign, CampaignEvent, CampaignStatus, ScheduleKind


class CampaignError(ValueError):
    """A campaign change that is not allowed; the message says why."""


def _transition(
    campaign: Campaign, *, frm: tuple[str, ...], to: str, by, note: str = "", **fields
) -> Campaign:
    with transaction.atomic():
        updated = Campaign.objects.filter(pk=campaign.pk, status__in=frm).update(
            status=to, **fields
        )
        if not updated:
            current = Campaign.objects.get(pk=campaign.pk).get_status_display().lower()
            raise CampaignError(
                f"“{campaign}” is {current}; it cannot become {CampaignStatus(to).label.lower()}."
            )
        CampaignEvent.objects.create(
            campaign=campaign, from_status=campaign.status, to_status=to, by=by, note=note
        )
    campaign.refresh_from_db()
    return campaign


def launch_problems(campaign: Campaign) -> list[str]:
    """Everything that stops a campaign from launching, in words a marketer can act on."""
    problems = []
    program = campaign.program
    if not program.active:
        problems.append(f"Program “{program}” is not active.")
    variants = list(campaign.variants.select_related("template_version__template__program"))
    if not variants:
        problems.append("Add at least one variant (an approved template version).")
    for variant in variants:
        version = variant.template_version
        if version.status != VersionStatus.APPROVED:
            problems.append(f"Variant {variant.label}: {version} is not approved.")
        if version.template.program_id != program.pk:
            problems.append(f"Variant {variant.label}: {version} belongs to another program.")
        findings = version.run_checks()
        if has_blockers(findings):
            codes = ", ".join(f.code for f in findings if f.severity == "block")
            problems.append(f"Variant {variant.label}: content checks block it ({codes}).")
        if any(t.startswith("event.") for t in version.compiled.tokens):
            problems.append(f"Variant {variant.label}: event tokens need a flow, not a campaign.")
        if LINK_TOKENS & set(version.compiled.tokens):
            problems.append(
                f"Variant {variant.label}: {{preferences_url}} is signed for each person, which "
                "campaign fan-out (in the database) cannot do; send it from a flow or the API."
            )
    senders = list(campaign.senders.all())
    if not any(s.active for s in senders):
        problems.append("Choose at least one active sender.")
    for sender in senders:
        if not sender.programs.filter(pk=program.pk).exists():
            problems.append(f"Sender {sender} is not registered for {program}.")
    try:
        audience_contacts(campaign.audience.filters)
    except AudienceFilterError as exc:
        problems.append(f"Audience: {exc}")
    if campaign.schedule == ScheduleKind.AT and not campaign.send_at:
        problems.append("Say when to send.")
    return problems


def campaign_launch(*, campaign: Campaign, by) -> Campaign:
    """Launch a draft: validate, fan out (in a task), and start sending when its time comes."""
    problems = launch_problems(campaign)
    if problems:
        raise CampaignError(" ".join(problems))
    now = timezone.now()
    with transaction.atomic():
        campaign = _transition(
            campaign,
            frm=(CampaignStatus.DRAFT,),
            to=CampaignStatus.SCHEDULED,
            by=by,
            launched_at=now,
        )
        if campaign_start(campaign) <= now:
            campaign = _transition(
                campaign,
                frm=(CampaignStatus.SCHEDULED,),
                to=CampaignStatus.SENDING,
                by=by,
                note="start time reached",
            )
        enqueue("campaigns.tasks.fanout_campaign", campaign.pk)
    return campaign


def campaign_start_if_due(*, campaign: Campaign, now=None) -> bool:
    now = now or timezone.now()
    if campaign.status != CampaignStatus.SCHEDULED or campaign_start(campaign) > now:
        return False
    try:
        _transition(
            campaign,
            frm=(CampaignStatus.SCHEDULED,),
            to=CampaignStatus.SENDING,
            by=None,
            note="start time reached",
        )
    except CampaignError:
        return False
    enqueue("messaging.tasks.dispatch")
    return True


def campaign_pause(*, campaign: Campaign, by, note: str = "") -> Campaign:
    return _transition(
        campaign,
        frm=(CampaignStatus.SCHEDULED, CampaignStatus.SENDING),
        to=CampaignStatus.PAUSED,
        by=by,
        note=note,
    )


def campaign_resume(*, campaign: Campaign, by, note: str = "") -> Campaign:
    """Paused → sending. A campaign paused after its last batch (an incident opened by that
    batch's outcomes, a person's pause) has nothing left for dispatch to finish it by: it is
    completed here."""
    with transaction.atomic():
        campaign = _transition(
            campaign, frm=(CampaignStatus.PAUSED,), to=CampaignStatus.SENDING, by=by, note=note
        )
        enqueue("messaging.tasks.dispatch")
    if campaign_complete_if_done(campaign_id=campaign.pk):
        campaign.refresh_from_db()
    return campaign


def campaign_cancel(*, campaign: Campaign, by, note: str = "") -> Campaign:
    """Cancel: nothing more goes out; what was waiting is cancelled with a reason."""
    with transaction.atomic():
        campaign = _transition(
            campaign,
            frm=(
                CampaignStatus.DRAFT,
                CampaignStatus.SCHEDULED,
                CampaignStatus.SENDING,
                CampaignStatus.PAUSED,
            ),
            to=CampaignStatus.CANCELLED,
            by=by,
            note=note,
            completed_at=timezone.now(),
        )
        ids = list(
            OutboundMessage.objects.filter(campaign=campaign, status__in=WAITING).values_list(
                "pk", flat=True
            )
        )
        OutboundMessage.objects.filter(pk__in=ids, status__in=WAITING).update(
            status=MessageStatus.CANCELLED, reason=BlockReason.CAMPAIGN_CANCELLED
        )
        MessageEvent.objects.bulk_create(
            MessageEvent(
                message_id=pk,
                kind=MessageEvent.Kind.CANCELLED,
                reason=BlockReason.CAMPAIGN_CANCELLED,
            )
            for pk in ids
        )
    return campaign


def campaign_complete_if_done(*, campaign_id: int) -> bool:
    """Sending → completed once fan-out is done and nothing is waiting or in flight."""
    campaign = Campaign.objects.get(pk=campaign_id)
    if campaign.status != CampaignStatus.SENDING or not campaign.fanout_done:
        return False
    open_statuses = [*WAITING, MessageStatus.SENDING]
    if OutboundMessage.objects.filter(campaign=campaign, status__in=open_statuses).exists():
        return False
    try:
        _transition(
            campaign,
            frm=(CampaignStatus.SENDING,),
            to=CampaignStatus.COMPLETED,
            by=None,
            completed_at=timezone.now(),
        )
    except CampaignError:
        return False
    return True


def campaign_send_test(*, campaign: Campaign, phone: str, by) -> OutboundMessage:
    """Send the first variant to one number, through the same gate as everyone else."""
    variant = campaign.variants.select_related("template_version").order_by("label").first()
    if variant is None:
        raise CampaignError("Add a variant first.")
    contact = contact_get_or_create(phone=normalize_phone(phone))
    values = contact_token_values(contact)
    try:
        body = variant.template_version.compiled.render(values)
    except Exception as exc:  # MissingTokenError: say which, send nothing
        raise CampaignError(f"Cannot render for {contact}: {exc}") from exc
    message = message_queue(
        contact=contact,
        program=campaign.program,
        body=body,
        kind=MessageKind.TEST,
        message_type=campaign.program.message_type or MessageType.MARKETING,
        sender=campaign.senders.filter(active=True).first(),
        template_version=variant.template_version,
    )
    if message.status == MessageStatus.QUEUED:
        enqueue("messaging.tasks.dispatch")
    return message


PROGRESS_ORDER = ["queued", "held", "sending", "sent", "delivered", "undelivered", "failed",
                  "blocked", "cancelled"]  # fmt: skip


def campaign_progress(campaign: Campaign) -> dict:
    """Messages by status, for the progress bar (one GROUP BY on the campaign's index)."""
    counts = dict(
        OutboundMessage.objects.filter(campaign=campaign)
        .values_list("status")
        .annotate(n=Count("id"))
        .order_by()
    )
    total = sum(counts.values())
    return {
        "total": total,
        "counts": {status: counts.get(status, 0) for status in PROGRESS_ORDER},
        "filtered_30007": OutboundMessage.objects.filter(
            campaign=campaign, error_code=30007
        ).count()
        if total
        else 0,
    }


__all__ = ["CampaignError", "FanoutError"]
