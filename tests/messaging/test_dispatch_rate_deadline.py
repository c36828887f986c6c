"""A batch waits for its sender's rate only until its deadline (the last moment a hand-off may
start): what the bucket pays for later goes back to the queue untried, taking no tokens and no
daily segments, instead of the batch sleeping past its lease and its task's timeout."""

import itertools
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from campaigns.fanout import fanout_all
from messaging import throttle
from messaging.dispatch import LEASE_MARGIN, Dispatcher
from messaging.models import MessageEvent, OutboundMessage, SenderDailyUsage, SenderThrottle
from messaging.providers import SendResult
from tests.factories import create_campaign, create_contact, create_program, create_sender, opt_in

pytestmark = pytest.mark.django_db

_sids = itertools.count(1)


class Provider:
    def __init__(self):
        self.sent: list[int] = []

    def send(self, request):
        self.sent.append(request.message_id)
        return SendResult(provider_sid=f"SM{next(_sids):032d}")

    def find_sent(self, request, *, since):
        return None


def test_it_takes_only_the_tokens_the_bucket_pays_for_in_time():
    sender = create_sender(mps=1)
    SenderThrottle.objects.create(sender=sender, tokens=0, updated_at=timezone.now())

    grant = throttle.acquire(sender, [1, 1, 1], within=1.5)

    assert grant.count == 1
    assert grant.wait == pytest.approx(1.0, abs=0.05)
    assert grant.next_wait == pytest.approx(2.0, abs=0.05)  # the second one's moment
    assert SenderThrottle.objects.get(sender=sender).tokens == pytest.approx(-1.0, abs=0.05)


def test_a_sender_deep_in_debt_never_keeps_a_batch_asleep_past_its_deadline():
    program = create_program("offers")
    campaign = create_campaign(program, status="sending")
    sender = campaign.senders.get()
    sender.mps = 1  # one message a chunk, each a second after the last
    sender.daily_segment_cap = 1000
    sender.save(update_fields=["mps", "daily_segment_cap"])
    for _ in range(40):
        opt_in(create_contact(), program)
    fanout_all(campaign)
    # A minute of debt: with the 90 s a 120 s lease gives, about 30 messages fit.
    SenderThrottle.objects.create(sender=sender, tokens=-60, updated_at=timezone.now())
    margin = timedelta(seconds=settings.SMS_LEASE_SECONDS * LEASE_MARGIN)
    naps: list[tuple[float, float]] = []  # (asked to sleep, seconds left to the deadline)
    deadlines = set()

    def sleep(seconds: float) -> None:  # no time passes: the bucket's debt stays as it is
        lease = OutboundMessage.objects.filter(status="sending").first().lease_expires_at
        deadlines.add(lease - margin)
        naps.append((seconds, (lease - margin - timezone.now()).total_seconds()))

    provider = Provider()
    report = Dispatcher(backend=provider, sleep=sleep, policy_hold=lambda m, now: None).run_batch()

    assert naps and all(seconds <= left for seconds, left in naps)
    assert 25 <= report.sent <= 31 and report.sent + report.released == 40
    (deadline,) = deadlines
    queued = OutboundMessage.objects.filter(campaign=campaign, status="queued")
    assert queued.count() == report.released
    for message in queued:
        # Due when the bucket pays for the first of them: just after the batch's deadline.
        assert deadline < message.next_attempt_at <= deadline + timedelta(seconds=1.1)
        assert message.attempts == 0  # untried
    released = MessageEvent.objects.filter(kind="released", reason="rate_wait")
    assert released.count() == report.released
    # No tokens and no daily segments are spent on messages that were not sent.
    assert SenderThrottle.objects.get(sender=sender).tokens > -(60 + report.sent + 1)
    assert SenderDailyUsage.objects.get(sender=sender).segments == report.sent

    # Once due and the bucket paid off, the rest goes, and nothing goes twice.
    SenderThrottle.objects.filter(sender=sender).update(tokens=0, updated_at=timezone.now())
    queued.update(next_attempt_at=timezone.now())
    Dispatcher(backend=provider, sleep=lambda s: None, policy_hold=lambda m, now: None).run_batch()

    assert sorted(provider.sent) == sorted(
        OutboundMessage.objects.filter(campaign=campaign).values_list("pk", flat=True)
    )
    assert OutboundMessage.objects.filter(campaign=campaign, status="sent").count() == 40
    assert SenderDailyUsage.objects.get(sender=sender).segments == 40
