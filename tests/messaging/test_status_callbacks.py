"""Status callbacks: applied once, in order, with what permanent errors mean for the number."""

import pytest
from django.utils import timezone

from consent.models import ConsentEvent, ConsentState, Suppression
from messaging.callbacks import callbacks_apply_pending
from messaging.models import MessageEvent, OutboundMessage, StatusCallback
from messaging.services import message_queue
from tests.factories import create_contact, opt_in

from .twilio_helpers import STATUS_PATH, new_sid, post_signed, status_params

pytestmark = pytest.mark.django_db


@pytest.fixture
def contact(offers):
    contact = create_contact()
    opt_in(contact, offers)
    return contact


@pytest.fixture
def sent(sender, contact, offers) -> OutboundMessage:
    """A message the dispatcher handed to Twilio: status sent, SID recorded."""
    message = message_queue(contact=contact, program=offers, body="Sale!", kind="api")
    OutboundMessage.objects.filter(pk=message.pk).update(
        status="sent", provider_sid=new_sid(), sent_at=timezone.now()
    )
    message.refresh_from_db()
    return message


def callback(client, message: OutboundMessage, status: str, error_code: int | None = None):
    params = status_params(message.provider_sid, status, to=message.to, error_code=error_code)
    response = post_signed(client, STATUS_PATH, params)
    assert response.status_code == 200
    message.refresh_from_db()
    return response


def event_kinds(message: OutboundMessage) -> list[str]:
    return list(message.events.order_by("id").values_list("kind", flat=True))


def test_it_refuses_an_unsigned_callback_and_stores_nothing(client, sent):
    params = status_params(sent.provider_sid, "delivered", to=sent.to)

    assert client.post(STATUS_PATH, params).status_code == 403

    assert not StatusCallback.objects.exists()
    sent.refresh_from_db()
    assert sent.status == "sent"


def test_it_marks_a_message_delivered(client, sent):
    callback(client, sent, "delivered")

    assert sent.status == "delivered"
    assert sent.delivered_at is not None
    assert event_kinds(sent) == ["queued", "delivered"]
    stored = StatusCallback.objects.get()
    assert (stored.message, stored.status, stored.raw["MessageStatus"]) == (
        sent,
        "delivered",
        "delivered",
    )


def test_it_keeps_delivered_when_a_late_sent_arrives(client, sent):
    callback(client, sent, "delivered")
    callback(client, sent, "sent")

    assert sent.status == "delivered"
    assert event_kinds(sent) == ["queued", "delivered", "callback"]
    late = sent.events.get(kind="callback")
    assert late.data["status"] == "sent" and late.data["applied"] is False


def test_it_never_moves_a_terminal_status(client, sent):
    callback(client, sent, "undelivered", error_code=30003)
    callback(client, sent, "delivered")

    assert sent.status == "undelivered"
    assert sent.delivered_at is None
    assert sent.error_code == 30003


@pytest.mark.parametrize("status", ["queued", "sending", "sent"])
def test_it_logs_provider_side_statuses_without_moving_the_message(client, sent, status):
    callback(client, sent, status)

    assert sent.status == "sent"
    assert event_kinds(sent) == ["queued", "callback"]


def test_it_does_nothing_on_a_repeated_callback(client, sent):
    first = callback(client, sent, "delivered")
    delivered_at = sent.delivered_at

    second = callback(client, sent, "delivered")

    assert second.content == first.content
    assert StatusCallback.objects.count() == 1
    assert event_kinds(sent) == ["queued", "delivered"]
    assert sent.delivered_at == delivered_at


def test_it_records_a_carrier_opt_out_and_suppresses_on_21610(client, sent, contact, offers):
    callback(client, sent, "failed", error_code=21610)

    assert (sent.status, sent.error_code) == ("failed", 21610)
    assert sent.events.get(kind="failed").error_code == 21610
    event = ConsentEvent.objects.get(kind="opt_out")
    assert (event.method, event.program) == ("carrier", offers)
    assert ConsentState.objects.get(contact=contact, program=offers).status == "opted_out"
    suppression = Suppression.objects.get()
    assert (suppression.reason, suppression.phone) == ("carrier_21610", contact.phone)


def test_it_suppresses_a_landline_on_30006(client, sent):
    callback(client, sent, "undelivered", error_code=30006)

    assert Suppression.objects.get().reason == "landline"
    assert not ConsentEvent.objects.filter(kind="opt_out").exists()


def test_it_only_records_carrier_filtering(client, sent):
    callback(client, sent, "undelivered", error_code=30007)

    assert (sent.status, sent.error_code) == ("undelivered", 30007)
    assert not Suppression.objects.exists()


def test_it_answers_200_to_an_unknown_sid_and_keeps_the_callback(client, sender):
    params = status_params(new_sid(), "delivered", to="+14152000999")

    response = post_signed(client, STATUS_PATH, params)

    assert response.status_code == 200
    stored = StatusCallback.objects.get()
    assert stored.message is None and stored.raw == params
    assert not MessageEvent.objects.exists()


def test_it_applies_a_callback_that_beat_the_dispatcher_once_the_sid_is_known(client, sent):
    sid = new_sid()
    post_signed(client, STATUS_PATH, status_params(sid, "delivered", to=sent.to))
    OutboundMessage.objects.filter(pk=sent.pk).update(provider_sid=sid)
    sent.refresh_from_db()

    assert callbacks_apply_pending(sent) == 1
    assert callbacks_apply_pending(sent) == 0

    sent.refresh_from_db()
    assert sent.status == "delivered"
    assert StatusCallback.objects.get().message == sent
