"""Dispatch: claim in batches, re-check consent at hand-off, retry, fail with side effects."""

import itertools
from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.fanout import fanout_all
from consent import services
from consent.models import ConsentState, Suppression
from messaging import tasks
from messaging.dispatch import Dispatcher, backoff_seconds, claim_due
from messaging.models import MessageEvent, OutboundMessage, SenderThrottle
from messaging.providers import ProviderError, SendResult
from messaging.reconcile import reconcile_expired_leases
from tests.factories import create_campaign, create_contact, create_program, opt_in

pytestmark = pytest.mark.django_db

_sids = itertools.count(1)


class Provider:
    """A provider double: records what it was handed, fails on demand."""

    def __init__(self, failures=None, found=None):
        self.sent = []
        self.failures = list(failures or [])
        self.found = found

    def send(self, request):
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(request)
        return SendResult(provider_sid=f"SM{next(_sids):032d}")

    def find_sent(self, request, *, since):
        if isinstance(self.found, Exception):
            raise self.found
        return self.found


@pytest.fixture
def program():
    return create_program("offers")


@pytest.fixture
def queued(program):
    campaign = create_campaign(program, status="sending")
    contacts = [create_contact() for _ in range(3)]
    for contact in contacts:
        opt_in(contact, program)
    fanout_all(campaign)
    return campaign


def dispatcher(provider, **kwargs):
    return Dispatcher(
        backend=provider,
        sleep=lambda s: None,
        policy_hold=kwargs.pop("policy_hold", lambda m, now: None),
        **kwargs,
    )


def test_it_sends_each_queued_message_once_and_logs_it(queued):
    provider = Provider()
    report = dispatcher(provider).run_batch()
    assert (report.claimed, report.sent) == (3, 3)
    assert sorted(r.to for r in provider.sent) == sorted(
        OutboundMessage.objects.values_list("to", flat=True)
    )
    for message in OutboundMessage.objects.all():
        assert message.status == "sent" and message.provider_sid and message.sent_at
        assert message.segments == 1 and message.encoding == "GSM-7"
        kinds = list(MessageEvent.objects.filter(message=message).values_list("kind", flat=True))
        assert kinds == ["sent"]
    assert dispatcher(provider).run_batch().claimed == 0  # nothing is sent twice


def test_it_blocks_at_hand_off_when_an_opt_out_committed_meanwhile(queued, program):
    victim = OutboundMessage.objects.order_by("pk").first()

    def opt_out_while_waiting_for_rate(seconds):
        if ConsentState.objects.get(contact=victim.contact, program=program).status != "opted_out":
            services.consent_revoke(
                contact=victim.contact, programs=[program], method="keyword", source="STOP"
            )

    provider = Provider()
    d = Dispatcher(
        backend=provider, sleep=opt_out_while_waiting_for_rate, policy_hold=lambda m, now: None
    )
    # An empty bucket: every message waits for its rate tokens; the opt-out lands meanwhile.
    for sender in queued.senders.all():
        sender.mps = 1
        sender.save()
        SenderThrottle.objects.create(sender=sender, tokens=-5, updated_at=timezone.now())
    d.run_batch()
    victim.refresh_from_db()
    assert (victim.status, victim.reason) == ("blocked", "opted_out")
    assert victim.to not in [r.to for r in provider.sent]


def test_an_opt_out_cancels_waiting_messages_in_the_same_transaction(queued, program):
    message = OutboundMessage.objects.first()
    services.consent_revoke(
        contact=message.contact, programs=[program], method="keyword", source="STOP"
    )
    message.refresh_from_db()
    assert (message.status, message.reason) == ("cancelled", "cancelled_by_opt_out")
    assert dispatcher(Provider()).run_batch().claimed == 2


def test_it_retries_transient_errors_with_backoff(queued):
    error = ProviderError("429 Too Many Requests", transient=True, http_status=429, retry_after=30)
    provider = Provider(failures=[error])
    report = dispatcher(provider).run_batch()
    assert report.retried == 1 and report.sent == 2
    retried = OutboundMessage.objects.get(status="queued")
    assert retried.attempts == 1
    assert retried.next_attempt_at >= timezone.now() + timedelta(seconds=29)
    event = MessageEvent.objects.get(message=retried, kind="retried")
    assert event.data["http_status"] == 429 and event.data["delay_seconds"] >= 30


def test_it_fails_after_the_last_attempt(queued, settings):
    settings.SMS_MAX_ATTEMPTS = 1
    provider = Provider(failures=[ProviderError("503", transient=True, http_status=503)])
    dispatcher(provider).run_batch()
    failed = OutboundMessage.objects.get(status="failed")
    assert MessageEvent.objects.get(message=failed, kind="failed").reason == "too_many_attempts"


def test_a_21610_fails_at_once_records_a_carrier_opt_out_and_suppresses(queued, program):
    provider = Provider(
        failures=[
            ProviderError("unsubscribed recipient", transient=False, code=21610, http_status=400)
        ]
    )
    dispatcher(provider).run_batch()
    failed = OutboundMessage.objects.get(status="failed")
    assert failed.error_code == 21610
    state = ConsentState.objects.get(contact=failed.contact, program=program)
    assert state.status == "opted_out"
    assert state.last_event.method == "carrier"
    assert Suppression.objects.filter(phone=failed.to, reason="carrier_21610").exists()


def test_a_landline_error_suppresses_the_number(queued):
    provider = Provider(failures=[ProviderError("landline", transient=False, code=30006)])
    dispatcher(provider).run_batch()
    failed = OutboundMessage.objects.get(status="failed")
    assert Suppression.objects.filter(phone=failed.to, reason="landline").exists()


def test_held_messages_wait_until_their_time(queued):
    until = timezone.now() + timedelta(hours=3)
    report = dispatcher(Provider(), policy_hold=lambda m, now: ("quiet_hours", until)).run_batch()
    assert report.held == 3
    message = OutboundMessage.objects.first()
    assert (message.status, message.reason, message.attempts) == ("held", "quiet_hours", 0)
    assert message.next_attempt_at == until
    assert dispatcher(Provider()).run_batch().claimed == 0


def test_a_paused_campaign_is_not_dispatched(queued):
    queued.status = "paused"
    queued.save()
    assert dispatcher(Provider()).run_batch().claimed == 0


def test_backoff_grows_and_is_capped(settings):
    settings.SMS_BACKOFF_BASE, settings.SMS_BACKOFF_MAX = 2.0, 60.0
    assert 1.0 <= backoff_seconds(1) <= 2.0
    assert 8.0 <= backoff_seconds(4) <= 16.0
    assert backoff_seconds(20) <= 60.0
    assert backoff_seconds(1, retry_after=45) == 45


@pytest.mark.parametrize(
    ("found", "status"),
    [
        (SendResult(provider_sid="SMfound"), "sent"),
        (None, "queued"),
        (ProviderError("down", transient=True), "held"),
    ],
)
def test_expired_leases_are_reconciled_never_blindly_resent(queued, found, status):
    [message, *_] = claim_due(limit=1)
    OutboundMessage.objects.filter(pk=message.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    reconcile_expired_leases(backend=Provider(found=found))
    message.refresh_from_db()
    assert message.status == status
    assert MessageEvent.objects.filter(message=message, kind="reconciled").exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_claims_never_share_a_message(program):
    import threading

    from django.db import connection

    campaign = create_campaign(program, status="sending")
    for _ in range(60):
        opt_in(create_contact(), program)
    fanout_all(campaign)
    claimed: list[list[int]] = []
    start = threading.Barrier(4)

    def worker():
        try:
            start.wait()
            for _ in range(5):
                claimed.append([m.pk for m in claim_due(limit=7)])
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = [pk for batch in claimed for pk in batch]
    assert len(ids) == len(set(ids)) == 60


def test_a_status_callback_that_beat_the_dispatcher_is_applied_once_the_sid_is_known(queued):
    from messaging.callbacks import status_callback_receive

    class KnownSid(Provider):
        def send(self, request):
            self.sent.append(request)
            return SendResult(provider_sid=f"SMearly{request.message_id}")

    first = OutboundMessage.objects.order_by("pk").first()
    # Twilio's "delivered" arrives while our worker is still recording the hand-off.
    status_callback_receive(
        params={
            "MessageSid": f"SMearly{first.pk}",
            "MessageStatus": "delivered",
            "AccountSid": "AC00000000000000000000000000000000",
        }
    )
    dispatcher(KnownSid()).run_batch()
    first.refresh_from_db()
    assert first.status == "delivered" and first.delivered_at is not None
    others = OutboundMessage.objects.exclude(pk=first.pk)
    assert set(others.values_list("status", flat=True)) == {"sent"}


def test_a_failing_batch_hook_stops_neither_the_others_nor_the_continuation(
    queued, settings, monkeypatch, caplog, no_quiet_hours
):
    """The batch is settled before its hooks run: one hook's error is logged, and the next
    hook and the next batch still run."""
    settings.SMS_DISPATCH_BATCH = 3  # the batch is full: it queues a continuation
    told, enqueued = [], []

    def broken(*, campaign_id):
        raise RuntimeError("hook broke")

    monkeypatch.setattr(
        tasks, "campaign_batch_hooks", [broken, lambda *, campaign_id: told.append(campaign_id)]
    )
    monkeypatch.setattr(tasks, "enqueue", enqueued.append)

    report = tasks.dispatch()

    assert report["sent"] == 3
    assert told == [queued.pk]
    assert enqueued == ["messaging.tasks.dispatch"]
    assert "hook broke" in caplog.text


def test_a_permanent_failure_at_hand_off_is_reported_to_partners(queued, settings):
    from messaging.models import WebhookDelivery
    from messaging.partner_webhooks import webhook_subscription_create

    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    webhook_subscription_create(
        name="CRM", url="http://127.0.0.1:9/hook", events=["message.failed"]
    )
    provider = Provider(failures=[ProviderError("landline", transient=False, code=30006)])
    dispatcher(provider).run_batch()
    failed = OutboundMessage.objects.get(status="failed")
    (delivery,) = WebhookDelivery.objects.all()
    assert delivery.event_type == "message.failed"
    assert delivery.payload["data"] == {
        "message_id": failed.pk,
        "to": failed.to,
        "status": "failed",
        "error_code": 30006,
        "provider_sid": None,
    }


def test_a_transient_failure_is_not_reported(queued, settings):
    from messaging.models import WebhookDelivery
    from messaging.partner_webhooks import webhook_subscription_create

    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    webhook_subscription_create(
        name="CRM", url="http://127.0.0.1:9/hook", events=["message.failed"]
    )
    dispatcher(Provider(failures=[ProviderError("503", transient=True)])).run_batch()
    assert not WebhookDelivery.objects.exists()
