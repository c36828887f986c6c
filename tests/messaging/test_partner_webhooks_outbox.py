"""Events reach partners through the outbox: written with the change they report, or not at all."""

import json

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from consent import services as consent_services
from consent.models import ConsentEvent
from messaging.conversations import conversation_close
from messaging.models import Conversation, OutboundMessage, WebhookDelivery
from messaging.partner_webhook_delivery import webhook_deliver_due
from messaging.partner_webhooks import (
    webhook_emit,
    webhook_subscription_disable,
)
from messaging.services import message_queue
from tests.factories import create_contact, create_program, opt_in

from .twilio_helpers import (
    INBOUND_PATH,
    STATUS_PATH,
    inbound_params,
    new_sid,
    post_signed,
    status_params,
)

pytestmark = pytest.mark.django_db
# The loopback receiver and its fixtures: receiver, subscribe, webhook_settings.
pytest_plugins = ["tests.messaging.webhook_receiver"]

ALL = [
    "consent.opted_in",
    "consent.opted_out",
    "message.delivered",
    "message.failed",
    "conversation.opened",
]


@pytest.fixture
def contact(offers):
    contact = create_contact()
    opt_in(contact, offers)
    return contact


def revoke(contact, program):
    return consent_services.consent_revoke(
        contact=contact,
        programs=[program],
        method="api",
        source="CRM unsubscribe page",
        recorded_by_label="test",
    )


def payloads(event_type: str | None = None) -> list[dict]:
    rows = WebhookDelivery.objects.order_by("pk")
    if event_type:
        rows = rows.filter(event_type=event_type)
    return [row.payload for row in rows]


def test_it_writes_a_delivery_with_the_opt_out(subscribe, contact, offers):
    subscription, _ = subscribe(events=["consent.opted_out"])

    (recorded,) = revoke(contact, offers)

    delivery = WebhookDelivery.objects.get()
    assert (delivery.subscription, delivery.status, delivery.event_type) == (
        subscription,
        "pending",
        "consent.opted_out",
    )
    assert delivery.payload == {
        "id": str(delivery.event_id),
        "type": "consent.opted_out",
        "occurred_at": recorded.event.occurred_at.isoformat(),
        "data": {
            "consent_event_id": recorded.event.pk,
            "phone": contact.phone,
            "program": "offers",
            "kind": "opt_out",
            "method": "api",
            "source": "CRM unsubscribe page",
            "occurred_at": recorded.event.occurred_at.isoformat(),
        },
    }


def test_it_writes_nothing_when_the_change_rolls_back(subscribe, contact, offers):
    subscribe(events=["consent.opted_out"])

    with pytest.raises(RuntimeError), transaction.atomic():
        revoke(contact, offers)
        assert WebhookDelivery.objects.count() == 1  # written in the change's transaction
        raise RuntimeError("something later in the request failed")

    assert not ConsentEvent.objects.filter(kind="opt_out").exists()
    assert not WebhookDelivery.objects.exists()


def test_it_posts_the_opt_out_once_the_change_commits(
    receiver, subscribe, contact, offers, django_capture_on_commit_callbacks
):
    subscribe(events=["consent.opted_out"])

    with django_capture_on_commit_callbacks(execute=True):
        revoke(contact, offers)

    (request,) = receiver.requests
    assert json.loads(request.body)["data"]["phone"] == contact.phone
    assert WebhookDelivery.objects.get().status == "delivered"


def test_it_queues_delivery_only_when_it_wrote_one(subscribe, django_capture_on_commit_callbacks):
    subscribe(events=["consent.opted_out"])

    with django_capture_on_commit_callbacks() as nothing:
        assert webhook_emit(event_type="message.delivered", data={}) == 0
    with django_capture_on_commit_callbacks() as one:
        assert webhook_emit(event_type="consent.opted_out", data={}) == 1

    assert (len(nothing), len(one)) == (0, 1)


def test_it_sends_one_event_to_each_listening_subscription(subscribe, contact, offers):
    first, _ = subscribe(events=["consent.opted_out"], name="CRM")
    second, _ = subscribe(events=ALL, name="Warehouse")
    subscribe(events=["consent.opted_in"], name="Not listening")
    disabled, _ = subscribe(events=ALL, name="Switched off")
    webhook_subscription_disable(subscription=disabled, reason="test")

    revoke(contact, offers)

    rows = WebhookDelivery.objects.order_by("subscription__name")
    assert [r.subscription for r in rows] == [first, second]
    assert len({r.event_id for r in rows}) == 1  # one event, the same id for everyone


def test_it_reports_an_opt_in_but_not_a_pending_one(subscribe):
    subscribe(events=["consent.opted_in", "consent.opted_out"])
    single = create_program("news")
    double = create_program("vip", double_opt_in=True)
    contact = create_contact()

    opt_in(contact, single)
    opt_in(contact, double, confirmed=False)  # pending until YES: nothing to report yet

    (payload,) = payloads()
    assert (payload["type"], payload["data"]["program"]) == ("consent.opted_in", "news")
    consent_services.consent_confirm(
        contact=contact, program=double, method="keyword", source="YES to +18335550100"
    )
    assert [(p["type"], p["data"]["program"]) for p in payloads()][1:] == [
        ("consent.opted_in", "vip")
    ]


def test_it_reports_each_program_a_stop_revokes(subscribe, client, sender, contact):
    subscribe(events=["consent.opted_out"])

    post_signed(client, INBOUND_PATH, inbound_params("STOP", from_=contact.phone))

    assert sorted(p["data"]["program"] for p in payloads()) == ["alerts", "offers"]
    assert {p["data"]["method"] for p in payloads()} == {"keyword"}


def test_it_costs_a_stop_one_small_query_when_nobody_listens(client, sender, contact):
    with CaptureQueriesContext(connection) as queries:
        post_signed(client, INBOUND_PATH, inbound_params("STOP", from_=contact.phone))

    touching = [q["sql"] for q in queries if "messaging_webhook" in q["sql"]]
    assert len(touching) == 1 and "webhooksubscription" in touching[0].lower()
    assert not WebhookDelivery.objects.exists()


@pytest.fixture
def sent(sender, contact, offers) -> OutboundMessage:
    message = message_queue(contact=contact, program=offers, body="Sale!", kind="api")
    OutboundMessage.objects.filter(pk=message.pk).update(
        status="sent", provider_sid=new_sid(), sent_at=timezone.now()
    )
    message.refresh_from_db()
    return message


def test_it_reports_a_delivered_message_from_its_status_callback(client, subscribe, sent):
    subscribe(events=["message.delivered", "message.failed"])

    post_signed(client, STATUS_PATH, status_params(sent.provider_sid, "delivered", to=sent.to))
    post_signed(client, STATUS_PATH, status_params(sent.provider_sid, "delivered", to=sent.to))

    (payload,) = payloads()  # the retried callback changed nothing, so reported nothing
    assert payload["type"] == "message.delivered"
    assert payload["data"] == {
        "message_id": sent.pk,
        "to": sent.to,
        "status": "delivered",
        "error_code": None,
        "provider_sid": sent.provider_sid,
    }


def test_it_reports_an_undelivered_message_as_failed(client, subscribe, sent):
    subscribe(events=["message.delivered", "message.failed"])

    params = status_params(sent.provider_sid, "undelivered", to=sent.to, error_code=30003)
    post_signed(client, STATUS_PATH, params)

    (payload,) = payloads()
    assert payload["type"] == "message.failed"
    assert (payload["data"]["status"], payload["data"]["error_code"]) == ("undelivered", 30003)


def test_it_does_not_report_a_status_that_moved_nothing(client, subscribe, sent):
    subscribe(events=["message.delivered", "message.failed"])

    post_signed(client, STATUS_PATH, status_params(sent.provider_sid, "sent", to=sent.to))

    assert payloads() == []


def test_it_reports_a_conversation_when_it_opens_and_reopens(client, subscribe, sender, contact):
    subscribe(events=["conversation.opened"])

    post_signed(client, INBOUND_PATH, inbound_params("Is my order ready?", from_=contact.phone))
    post_signed(client, INBOUND_PATH, inbound_params("Order 1234", from_=contact.phone))
    conversation = Conversation.objects.get()
    assert len(payloads()) == 1  # still open: the second message opened nothing
    conversation_close(conversation=conversation)
    post_signed(client, INBOUND_PATH, inbound_params("Hello again", from_=contact.phone))

    first, again = payloads("conversation.opened")
    assert first["data"] | {"opened_at": None} == {
        "conversation_id": conversation.pk,
        "phone": contact.phone,
        "sender": sender.phone_number,
        "sender_name": sender.name,
        "text": "Is my order ready?",
        "reopened": False,
        "opened_at": None,
    }
    assert (again["data"]["text"], again["data"]["reopened"]) == ("Hello again", True)


def test_it_delivers_what_the_outbox_holds(receiver, subscribe, client, sender, contact):
    subscribe(events=["conversation.opened"])
    post_signed(client, INBOUND_PATH, inbound_params("Is my order ready?", from_=contact.phone))

    assert webhook_deliver_due().delivered == 1

    (request,) = receiver.requests
    assert request.headers["X-SMS-Event"] == "conversation.opened"
    assert json.loads(request.body)["data"]["text"] == "Is my order ready?"
