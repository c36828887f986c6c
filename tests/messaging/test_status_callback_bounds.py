"""Status callbacks with values no column can hold: a clear 2xx or 4xx, never a 5xx, and a SID
is never truncated into another message's SID."""

import pytest
from django.utils import timezone

from messaging.models import InboundMessage, OutboundMessage, StatusCallback
from messaging.services import message_queue
from tests.factories import create_contact, opt_in

from .twilio_helpers import (
    INBOUND_PATH,
    STATUS_PATH,
    inbound_params,
    new_sid,
    post_signed,
    status_params,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(sender, offers) -> OutboundMessage:
    contact = create_contact()
    opt_in(contact, offers)
    message = message_queue(contact=contact, program=offers, body="Sale!", kind="api")
    OutboundMessage.objects.filter(pk=message.pk).update(
        status="sent", provider_sid=new_sid(), sent_at=timezone.now()
    )
    message.refresh_from_db()
    return message


@pytest.mark.parametrize("code", ["99999999999999999999", "-30007", "2147483648", "1_000", "3e5"])
def test_it_applies_a_failure_whose_error_code_is_out_of_range_without_the_code(client, sent, code):
    params = status_params(sent.provider_sid, "failed", to=sent.to) | {"ErrorCode": code}

    response = post_signed(client, STATUS_PATH, params)

    assert response.status_code == 200
    sent.refresh_from_db()
    assert (sent.status, sent.error_code) == ("failed", None)
    callback = StatusCallback.objects.get()
    assert (callback.error_code, callback.raw["ErrorCode"]) == (None, code)


def test_it_still_reads_an_ordinary_error_code(client, sent):
    params = status_params(sent.provider_sid, "undelivered", to=sent.to, error_code=30003)

    assert post_signed(client, STATUS_PATH, params).status_code == 200

    sent.refresh_from_db()
    assert sent.error_code == 30003


def test_it_refuses_a_sid_too_long_to_store_whole_and_touches_no_message(client, sent):
    """Its first 64 characters name a real message: truncating would update that one."""
    long_sid = sent.provider_sid.ljust(64, "0") + "X"
    OutboundMessage.objects.filter(pk=sent.pk).update(provider_sid=long_sid[:64])
    params = status_params(long_sid, "delivered", to=sent.to)

    for _ in range(2):  # the replay too
        response = post_signed(client, STATUS_PATH, params)
        assert response.status_code == 400
        assert b"MessageSid" in response.content

    sent.refresh_from_db()
    assert sent.status == "sent"
    assert not StatusCallback.objects.exists()


def test_it_refuses_a_status_too_long_to_store_whole_replay_included(client, sent):
    params = status_params(sent.provider_sid, "delivered" * 5, to=sent.to)

    assert [post_signed(client, STATUS_PATH, params).status_code for _ in range(2)] == [400, 400]
    assert not StatusCallback.objects.exists()


def test_it_keeps_the_longest_status_twilio_sends(client, sent):
    params = status_params(sent.provider_sid, "partially_delivered", to=sent.to)

    assert post_signed(client, STATUS_PATH, params).status_code == 200
    assert StatusCallback.objects.get().status == "partially_delivered"


def test_it_refuses_an_inbound_sid_too_long_to_store_whole(client, sender):
    params = inbound_params("STOP", from_="+14155550100", sid="SM" + "a" * 63)

    assert post_signed(client, INBOUND_PATH, params).status_code == 400
    assert not InboundMessage.objects.exists()
