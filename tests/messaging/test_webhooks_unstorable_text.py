"""A NUL byte (or a lone surrogate) in a webhook's parameters is replaced, and the request is
handled as usual: an opt-out is never lost to a database that cannot store a character."""

import pytest

from config.lib.text import REPLACEMENT
from consent.models import ConsentEvent, ConsentState
from messaging.callbacks import status_callback_receive
from messaging.inbound import inbound_receive
from messaging.models import InboundMessage, OutboundMessage, StatusCallback
from messaging.services import message_queue
from tests.factories import create_contact, opt_in

from .twilio_helpers import (
    INBOUND_PATH,
    STATUS_PATH,
    inbound_params,
    new_sid,
    post_signed,
    replies_queued,
    status_params,
    twiml_messages,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def contact(offers):
    contact = create_contact()
    opt_in(contact, offers)
    return contact


def test_it_honours_a_stop_whose_body_holds_a_nul_byte(client, sender, contact, offers):
    params = inbound_params("STOP\x00now", from_=contact.phone)

    response = post_signed(client, INBOUND_PATH, params)

    assert response.status_code == 200
    assert twiml_messages(response) == []  # our reply goes out through the REST API
    assert replies_queued(params) == [offers.opt_out_confirmation_text]
    state = ConsentState.objects.get(contact=contact, program=offers)
    assert state.status == "opted_out"
    message = InboundMessage.objects.get()
    assert message.body == f"STOP{REPLACEMENT}now"
    assert message.raw["Body"] == f"STOP{REPLACEMENT}now"
    assert message.raw["MessageSid"] == params["MessageSid"]
    assert message.intent == "opt_out"


def test_it_stores_a_nul_byte_in_any_parameter_name_or_value(client, sender, contact):
    params = inbound_params(
        "hello", from_=contact.phone, FromCity="SAN\x00FRANCISCO", **{"X\x00Extra": "1"}
    )

    response = post_signed(client, INBOUND_PATH, params)

    assert response.status_code == 200
    raw = InboundMessage.objects.get().raw
    assert raw["FromCity"] == f"SAN{REPLACEMENT}FRANCISCO"
    assert raw[f"X{REPLACEMENT}Extra"] == "1"


def test_it_answers_a_replay_of_the_nul_stop_once(client, sender, contact, offers):
    params = inbound_params("STOP\x00", from_=contact.phone)

    first = post_signed(client, INBOUND_PATH, params)
    again = post_signed(client, INBOUND_PATH, params)

    assert first.status_code == again.status_code == 200
    assert twiml_messages(again) == twiml_messages(first)
    assert InboundMessage.objects.count() == 1
    assert ConsentEvent.objects.filter(kind="opt_out").count() == 2  # offers and alerts, once


def test_it_stores_a_lone_surrogate_given_to_the_service(sender, contact, offers):
    """Lone surrogates cannot arrive over HTTP (UTF-8), but a caller of the service can pass one."""
    params = inbound_params("STOP \ud83d", from_=contact.phone)

    reply = inbound_receive(params=params)

    assert reply == offers.opt_out_confirmation_text
    assert InboundMessage.objects.get().body == f"STOP {REPLACEMENT}"


def test_it_stores_a_status_callback_with_a_nul_byte(client, sender, contact, offers):
    message = message_queue(contact=contact, program=offers, body="Sale!", kind="api")
    sid = new_sid()
    OutboundMessage.objects.filter(pk=message.pk).update(status="sent", provider_sid=sid)
    params = status_params(sid, "delivered", to=contact.phone) | {"ErrorMessage": "x\x00y"}

    response = post_signed(client, STATUS_PATH, params)

    assert response.status_code == 200
    message.refresh_from_db()
    assert message.status == "delivered"
    assert StatusCallback.objects.get().raw["ErrorMessage"] == f"x{REPLACEMENT}y"


def test_it_stores_a_callback_whose_sid_holds_a_nul_byte_under_the_replaced_sid(sender):
    params = status_params("SM\x00" + "a" * 32, "delivered", to="+14155550100")

    status_callback_receive(params=params)

    assert StatusCallback.objects.get().provider_sid == f"SM{REPLACEMENT}" + "a" * 32
