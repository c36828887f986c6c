"""Demo data for the reports: a two-variant campaign already sent, and flows with runs.

Everything goes through the product's own paths (fan-out, dispatch, status callbacks, inbound
replies, flow events), with a stand-in provider that accepts each message; the outcomes
(deliveries, carrier filtering, failures by error code, replies, a STOP) are then reported the
way Twilio would. The counters are rebuilt at the end, so every report shows what the raw tables
hold. Run once: a second call finds the campaign and only rebuilds the counters.
"""

from __future__ import annotations

import random
import uuid
from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from config.lib.process_cache import clear_all as clear_process_caches
from consent.models import Contact, Program
from messaging import counters, inbound
from messaging.callbacks import status_callback_receive
from messaging.demo import demo_link_activity
from messaging.dispatch import Dispatcher
from messaging.models import MessageStatus, OutboundMessage, Sender, SenderThrottle
from messaging.providers import SendResult
from messaging.simulate import simulated_params
from templates.models import MessageTemplate, TemplateVersion

from .fanout import fanout_all
from .flows import flow_event_record
from .models import Audience, Campaign, CampaignStatus, CampaignVariant, Flow

CAMPAIGN_NAME = "Spring tent sale (sent)"
#: (share, status, error code) of the demo campaign's outcomes, the rest delivered.
OUTCOMES = [
    (0.04, "undelivered", 30007),  # carrier filtering
    (0.02, "failed", 30003),  # unreachable handset
    (0.01, "undelivered", 30005),  # unknown number
    (0.01, "failed", 30006),  # landline
]
REPLIES = [
    "Do you have the 2-person tent in stock?",
    "Thanks!",
    "Is the sale on in store too?",
    "Great deal",
]


class DemoProvider:
    """Accepts every message at once, as Twilio's API would (no network)."""

    def send(self, request):
        return SendResult(provider_sid=f"SMdemo{uuid.uuid4().hex[:28]}")

    def find_sent(self, request, *, since):
        return None


def seed_reports_demo(*, marketer, reviewer, seed: int = 16) -> bool:
    """Send the demo campaign and fire the demo flows once; always rebuild the counters.
    Returns True when the demo was added now."""
    offers = Program.objects.filter(slug="offers").first()
    sender = Sender.objects.filter(active=True, programs=offers).order_by("pk").first()
    added = False
    if offers and sender and not Campaign.objects.filter(name=CAMPAIGN_NAME).exists():
        rng = random.Random(seed)
        campaign = _campaign(offers, sender, marketer, reviewer)
        _send(campaign, rng)
        _clicks_and_orders(campaign, rng)
        _flows(rng)
        added = True
    counters.rebuild()
    return added


def _campaign(offers: Program, sender: Sender, marketer, reviewer) -> Campaign:
    bodies = [
        "Acme Outdoor: {first_name|Hi there}, spring tents are 20% off this week at "
        "https://acme.example/spring Reply STOP to opt out",
        "Acme Outdoor: {first_name|Hi there}, new spring tents just landed, 20% off until "
        "Sunday: https://acme.example/spring Reply STOP to opt out",
    ]
    template = MessageTemplate.objects.create(
        name="Spring tent sale", program=offers, category="promotional", owner=marketer
    )
    versions = []
    for body in bodies:
        version = TemplateVersion.objects.create(template=template, body=body, author=marketer)
        version.submit(by=marketer)
        version.approve(by=reviewer, note="Checked against the 10DLC sample messages.")
        versions.append(version)
    audience = Audience.objects.create(
        name="Everyone opted in to offers",
        filters={"consent": {"program": "offers"}},
        created_by=marketer,
    )
    campaign = Campaign.objects.create(
        name=CAMPAIGN_NAME,
        program=offers,
        audience=audience,
        created_by=marketer,
        status=CampaignStatus.SENDING,
        launched_at=timezone.now(),
    )
    campaign.senders.add(sender)
    for label, version in zip("AB", versions, strict=True):
        CampaignVariant.objects.create(campaign=campaign, label=label, template_version=version)
    return campaign


def _send(campaign: Campaign, rng: random.Random) -> None:
    fanout_all(campaign)
    buckets = SenderThrottle.objects.filter(sender__in=campaign.senders.all())

    def afresh(seconds: float) -> None:
        buckets.delete()

    # The demo provider accepts everything at once and the demo waits for no rate: the senders'
    # buckets start afresh at every wait instead, so no debt builds up (a batch would put back
    # what it cannot wait for) and none is left for the first real dispatch to sleep through.
    dispatcher = Dispatcher(backend=DemoProvider(), sleep=afresh, policy_hold=lambda m, now: None)
    while dispatcher.run_batch().claimed:
        pass
    buckets.delete()
    sent = list(
        OutboundMessage.objects.filter(campaign=campaign, status=MessageStatus.SENT)
        .select_related("variant")
        .order_by("pk")
    )
    for message in sent:
        status, code = "delivered", None
        roll = rng.random()
        for share, outcome, error in OUTCOMES:
            if roll < share:
                status, code = outcome, error
                break
            roll -= share
        params = {"MessageSid": message.provider_sid, "MessageStatus": status}
        if code:
            params["ErrorCode"] = str(code)
        status_callback_receive(params=params)
    # Variant B draws more replies; one person texts STOP.
    clear_process_caches()  # the senders just made must be seen at once
    contacts = {c.pk: c for c in Contact.objects.filter(pk__in=[m.contact_id for m in sent])}
    for i, message in enumerate(sent):
        chance = 0.12 if message.variant.label == "B" else 0.05
        if rng.random() < chance:
            contact = contacts[message.contact_id]
            params = simulated_params(
                contact=contact, sender=message.sender, body=rng.choice(REPLIES), by="seed_demo"
            )
            inbound.inbound_receive(params=params)
        elif i == 3:
            contact = contacts[message.contact_id]
            params = simulated_params(
                contact=contact, sender=message.sender, body="STOP", by="seed_demo"
            )
            inbound.inbound_receive(params=params)
    Campaign.objects.filter(pk=campaign.pk).update(
        status=CampaignStatus.COMPLETED, completed_at=timezone.now()
    )


def _clicks_and_orders(campaign: Campaign, rng: random.Random) -> None:
    """The campaign as sent 20 hours ago (replies still within their attribution window), then
    clicks on its short links, human and bot, and the orders they led to."""
    ago = timedelta(hours=20)
    OutboundMessage.objects.filter(campaign=campaign).update(
        sent_at=F("sent_at") - ago, delivered_at=F("delivered_at") - ago
    )
    Campaign.objects.filter(pk=campaign.pk).update(
        launched_at=F("launched_at") - ago, completed_at=F("completed_at") - ago
    )
    demo_link_activity(campaign=campaign, rng=rng, now=timezone.now())


def _flows(rng: random.Random) -> None:
    """Bookings for the appointment flows: most confirmed and reminded, some booked too late
    for the reminder, some for people not opted in to appointments."""
    if not Flow.objects.filter(trigger="appointment.booked").exists():
        return
    people = list(Contact.objects.filter(phone__isnull=False).order_by("pk")[:60])
    now = timezone.now()
    for contact in people:
        hours = rng.choice([3, 30, 50, 72, 96])
        with transaction.atomic():
            flow_event_record(
                type="appointment.booked",
                contact=contact,
                occurred_at=now,
                data={
                    "appointment_at": (now + timedelta(hours=hours)).isoformat(),
                    "service": "bike tune-up",
                },
            )
