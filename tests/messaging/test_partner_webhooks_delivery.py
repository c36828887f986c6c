"""Delivering outbound webhooks: retried with backoff, failed at last, a dead endpoint disabled."""

from datetime import timedelta

import pytest
from django.db import DatabaseError, connections, transaction
from django.utils import timezone

from messaging import partner_webhook_delivery
from messaging.models import WebhookDelivery, WebhookSubscription
from messaging.partner_webhook_delivery import backoff, webhook_deliver_due
from messaging.partner_webhooks import (
    WebhookError,
    webhook_emit,
    webhook_subscription_create,
    webhook_subscription_enable,
)
from messaging.tasks import deliver_webhooks

pytestmark = pytest.mark.django_db
# The loopback receiver and its fixtures: receiver, subscribe, webhook_settings.
pytest_plugins = ["tests.messaging.webhook_receiver"]

OPT_OUT = "consent.opted_out"


def emit(n: int = 1) -> None:
    for i in range(n):
        webhook_emit(event_type=OPT_OUT, data={"n": i})


def make_due() -> None:
    """Time passes: every pending delivery's retry time has come."""
    WebhookDelivery.objects.filter(status="pending").update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )


def waits(delivery: WebhookDelivery) -> float:
    return (delivery.next_attempt_at - timezone.now()).total_seconds()


def test_it_delivers_and_records_the_answer(receiver, subscribe):
    subscribe()
    emit()

    report = webhook_deliver_due()

    delivery = WebhookDelivery.objects.get()
    assert (report.claimed, report.delivered) == (1, 1)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 200)
    assert delivery.delivered_at is not None and delivery.last_error == ""


def test_it_retries_with_exponential_backoff_then_delivers(receiver, subscribe):
    subscribe()
    receiver.answers = [500, 503]
    emit()

    webhook_deliver_due()
    first = WebhookDelivery.objects.get()
    assert (first.status, first.attempts, first.last_status_code) == ("pending", 1, 500)
    assert first.last_error.startswith("HTTP 500: partner says no")
    assert 28 <= waits(first) <= 33.1  # base 30 s, up to 10% jitter

    assert webhook_deliver_due().claimed == 0  # not due yet
    make_due()
    webhook_deliver_due()
    second = WebhookDelivery.objects.get()
    assert (second.attempts, second.last_status_code) == (2, 503)
    assert 58 <= waits(second) <= 66.1  # doubled

    make_due()
    webhook_deliver_due()
    third = WebhookDelivery.objects.get()
    assert (third.status, third.attempts, third.last_status_code) == ("delivered", 3, 200)
    assert len(receiver.requests) == 3
    # every attempt carries the same event id, so the partner can deduplicate
    assert len({r.body for r in receiver.requests}) == 1


def test_it_caps_the_backoff(webhook_settings):
    assert timedelta(seconds=30) <= backoff(1) <= timedelta(seconds=33)
    assert timedelta(seconds=60) <= backoff(2) <= timedelta(seconds=66)
    assert timedelta(seconds=100) <= backoff(3) <= timedelta(seconds=110)  # 120 capped at 100
    assert timedelta(seconds=100) <= backoff(30) <= timedelta(seconds=110)


def test_it_fails_a_delivery_after_the_last_attempt(receiver, subscribe, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    subscribe()
    receiver.answers = [500, 500]
    emit()

    webhook_deliver_due()
    make_due()
    webhook_deliver_due()

    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("failed", 2)
    make_due()
    assert webhook_deliver_due().claimed == 0


def test_it_counts_a_timeout_as_a_failed_attempt(receiver, subscribe):
    subscribe()
    receiver.answers = ["timeout"]
    emit()

    webhook_deliver_due()

    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, None)
    assert delivery.last_error.startswith("timed out after 0.5 s")


def test_it_does_not_follow_a_redirect(receiver, subscribe):
    subscribe()
    receiver.answers = [302]
    emit()

    webhook_deliver_due()

    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.last_status_code) == ("pending", 302)
    assert len(receiver.requests) == 1


def test_it_tries_a_failing_endpoint_once_per_run(receiver, subscribe):
    subscribe()
    receiver.answers = [500]
    emit(3)

    report = webhook_deliver_due()

    assert (report.claimed, report.retrying, report.deferred) == (3, 1, 2)
    assert len(receiver.requests) == 1
    # the others wait as long as the failed one, without an attempt counted
    rows = list(WebhookDelivery.objects.order_by("pk"))
    assert [d.attempts for d in rows] == [1, 0, 0]
    assert len({d.next_attempt_at for d in rows}) == 1


def test_it_disables_a_subscription_after_consecutive_failures(receiver, subscribe, settings):
    settings.WEBHOOK_MAX_CONSECUTIVE_FAILURES = 3
    subscription, _ = subscribe()
    receiver.answers = [500, 500, 500]
    emit(2)

    for _ in range(3):
        make_due()
        webhook_deliver_due()

    subscription.refresh_from_db()
    assert subscription.consecutive_failures == 3
    assert subscription.disabled_at is not None and not subscription.enabled
    assert "3 failed attempts in a row" in subscription.disabled_reason
    assert list(WebhookDelivery.objects.order_by("pk").values_list("status", "last_error")) == [
        ("failed", "HTTP 500: partner says no"),
        ("failed", "subscription disabled"),
    ]
    # a disabled subscription is sent nothing new
    assert webhook_emit(event_type=OPT_OUT, data={}) == 0
    make_due()
    assert webhook_deliver_due().claimed == 0
    assert len(receiver.requests) == 3


def test_it_resets_the_failure_count_on_success(receiver, subscribe):
    subscription, _ = subscribe()
    receiver.answers = [500, 500]
    emit()

    for _ in range(3):
        make_due()
        webhook_deliver_due()

    subscription.refresh_from_db()
    assert subscription.consecutive_failures == 0
    assert WebhookDelivery.objects.get().status == "delivered"


def test_it_counts_failures_again_from_zero_once_re_enabled(receiver, subscribe, settings):
    settings.WEBHOOK_MAX_CONSECUTIVE_FAILURES = 1
    subscription, _ = subscribe()
    receiver.answers = [500]
    emit()
    webhook_deliver_due()
    subscription.refresh_from_db()
    assert not subscription.enabled

    assert webhook_subscription_enable(subscription=subscription)

    subscription.refresh_from_db()
    assert subscription.enabled and subscription.consecutive_failures == 0
    assert not webhook_subscription_enable(subscription=subscription)  # already enabled


def test_it_continues_with_the_next_batch_when_one_was_full(
    receiver, subscribe, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(partner_webhook_delivery, "BATCH_SIZE", 2)
    subscribe()
    emit(5)

    with django_capture_on_commit_callbacks(execute=True):
        first = deliver_webhooks()

    assert (first["claimed"], first["more"]) == (2, True)
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"delivered"}
    assert len(receiver.requests) == 5


def test_it_leaves_what_a_run_had_no_time_for_to_the_next(receiver, subscribe):
    subscribe()
    emit(3)

    report = webhook_deliver_due(budget_seconds=0)

    assert (report.claimed, report.deferred, report.more) == (3, 3, True)
    assert receiver.requests == []
    assert webhook_deliver_due().delivered == 3


def test_it_refuses_a_url_that_is_not_http(webhook_settings):
    with pytest.raises(WebhookError, match="http:// or https://"):
        webhook_subscription_create(name="x", url="ftp://partner.example/", events=[OPT_OUT])
    assert not WebhookSubscription.objects.exists()


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8000/", "http://10.1.2.3/hook", "http://169.254.169.254/", "http://[::1]/"],
)
def test_it_refuses_private_addresses_in_production(webhook_settings, url):
    webhook_settings.WEBHOOK_ALLOW_PRIVATE_URLS = False

    with pytest.raises(WebhookError, match="private or local address"):
        webhook_subscription_create(name="x", url=url, events=[OPT_OUT])
    assert not WebhookSubscription.objects.exists()


def test_it_refuses_to_post_to_a_private_address_in_production(receiver, subscribe, settings):
    subscribe()  # the receiver is on loopback, allowed when this was made
    emit()
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False

    webhook_deliver_due()

    delivery = WebhookDelivery.objects.get()
    assert delivery.attempts == 1 and delivery.last_error.startswith("refused: ")
    assert receiver.requests == []


def test_it_refuses_unknown_event_types(webhook_settings):
    with pytest.raises(WebhookError, match="Unknown event type"):
        webhook_subscription_create(name="x", url="https://partner.example/", events=["nope"])
    with pytest.raises(ValueError, match="Unknown webhook event type"):
        webhook_emit(event_type="nope", data={})


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_it_holds_no_lock_while_posting(receiver, subscribe):
    """While the partner is being called, another connection can lock the delivery and the
    subscription at once (NOWAIT): no transaction is open across the HTTP call."""
    subscribe()
    locked: list[str] = []

    def try_locks(received) -> None:
        try:
            with transaction.atomic():
                pk = int(received.headers["X-SMS-Delivery"])
                delivery = WebhookDelivery.objects.select_for_update(nowait=True).get(pk=pk)
                WebhookSubscription.objects.select_for_update(nowait=True).get(
                    pk=delivery.subscription_id
                )
            locked.append("free")
        except DatabaseError as exc:
            locked.append(f"locked: {exc}")
        finally:
            connections.close_all()  # this thread's own connection

    receiver.on_request = try_locks

    emit()  # committed at once here, so the delivery task runs (inline in tests) right away

    assert WebhookDelivery.objects.get().status == "delivered"
    assert locked == ["free"]
