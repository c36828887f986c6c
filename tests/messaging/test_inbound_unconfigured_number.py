"""A message to one of our numbers that is not set up as a sender: a revocation still takes
effect (every program, with a suppression); an exact keyword was answered by Twilio (which
handles keywords on every number of the account), free text by our reply naming the business;
staff are alerted once per number (counted), with a WARNING in the log."""

import logging

import pytest

from consent.models import ConsentConfirmation, ConsentEvent, ConsentState, Suppression
from consent.selectors import can_message
from messaging.models import InboundMessage, OperatorAlert, RevocationReview
from tests.factories import create_contact, next_phone, opt_in

from .twilio_helpers import INBOUND_PATH, inbound_params, post_signed, twiml_messages

pytestmark = pytest.mark.django_db

FORGOTTEN = "+18335550199"  # ours (Twilio signed it), but no Sender has this number


@pytest.fixture
def business(twilio_webhooks):
    twilio_webhooks.SMS_BUSINESS_NAME = "Acme Outdoor"
    return twilio_webhooks


@pytest.fixture
def subscriber(sender, offers, alerts):
    contact = create_contact()
    opt_in(contact, offers)
    opt_in(contact, alerts)
    return contact


def test_it_revokes_every_program_for_a_stop_to_a_number_with_no_sender(
    client, business, subscriber, offers, alerts
):
    params = inbound_params("STOP", from_=subscriber.phone, to=FORGOTTEN)

    response = post_signed(client, INBOUND_PATH, params)

    assert response.status_code == 200
    assert twiml_messages(response) == []  # Twilio answered and blocked: ours would fail
    states = ConsentState.objects.filter(contact=subscriber)
    assert {s.program.slug: s.status for s in states} == {
        "offers": "opted_out",
        "alerts": "opted_out",
    }
    assert Suppression.objects.filter(
        phone=subscriber.phone, program=None, lifted_at=None, reason="opt_out_all"
    ).exists()
    assert not can_message(subscriber.phone, offers, "marketing").allowed
    events = ConsentEvent.objects.filter(contact=subscriber, kind="opt_out")
    assert {e.source for e in events} == {f"STOP to {FORGOTTEN}"}
    assert all(e.evidence["unconfigured_number"] for e in events)
    confirmations = ConsentConfirmation.objects.filter(event__in=events)
    assert {c.message_ref for c in confirmations} == {f"provider:{params['MessageSid']}"}
    assert confirmations.count() == 2 and all(c.sent_at for c in confirmations)
    assert InboundMessage.objects.get().answered_by == "provider"


def test_it_honours_a_free_text_revocation_to_a_number_with_no_sender(
    client, business, subscriber, offers
):
    params = inbound_params("please stop texting me", from_=subscriber.phone, to=FORGOTTEN)

    response = post_signed(client, INBOUND_PATH, params)

    assert twiml_messages(response) == [
        "Acme Outdoor: you are unsubscribed and will receive no more messages from us."
    ]
    assert ConsentState.objects.get(contact=subscriber, program=offers).status == "opted_out"
    # Nothing reports a TwiML reply's delivery: no confirmation is claimed, the evidence says so.
    events = ConsentEvent.objects.filter(contact=subscriber, kind="opt_out")
    assert not ConsentConfirmation.objects.filter(event__in=events).exists()
    assert all("not reported" in e.evidence["answered_by"] for e in events)
    assert InboundMessage.objects.get().answered_by == "us"


def test_it_suppresses_a_stranger_who_texts_stop_to_a_number_with_no_sender(
    client, business, offers
):
    phone = next_phone()

    response = post_signed(client, INBOUND_PATH, inbound_params("STOP", from_=phone, to=FORGOTTEN))

    assert response.status_code == 200
    assert Suppression.objects.filter(phone=phone, program=None, lifted_at=None).exists()
    assert not can_message(phone, offers, "marketing").allowed


def test_it_alerts_staff_once_per_number_and_counts_each_message(client, business, caplog):
    caplog.set_level(logging.WARNING, logger="messaging.alerts")

    for body in ("STOP", "hello?", "HELP"):
        post_signed(client, INBOUND_PATH, inbound_params(body, from_=next_phone(), to=FORGOTTEN))

    alert = OperatorAlert.objects.get()
    assert (alert.kind, alert.subject, alert.count, alert.status) == (
        "unconfigured_number",
        FORGOTTEN,
        3,
        "open",
    )
    assert alert.first_seen < alert.last_seen
    assert "not set up as a sender" in alert.detail
    assert [r.levelname for r in caplog.records].count("WARNING") == 3
    assert FORGOTTEN in caplog.records[0].getMessage()


def test_it_counts_a_retried_message_once(client, business, subscriber):
    params = inbound_params("STOP", from_=subscriber.phone, to=FORGOTTEN)

    first = post_signed(client, INBOUND_PATH, params)
    again = post_signed(client, INBOUND_PATH, params)

    assert twiml_messages(again) == twiml_messages(first)
    assert OperatorAlert.objects.get().count == 1
    assert ConsentEvent.objects.filter(kind="opt_out").count() == 2  # offers, alerts: once


def test_it_answers_help_to_a_number_with_no_sender_with_a_generic_text(client, business):
    phone = next_phone()

    response = post_signed(
        client, INBOUND_PATH, inbound_params("help me", from_=phone, to=FORGOTTEN)
    )

    assert twiml_messages(response) == [
        "Acme Outdoor: this number sends no messages. Reply STOP to stop every message from us."
    ]
    assert not ConsentEvent.objects.exists()
    # An exact HELP was Twilio's to answer: no second answer from us.
    again = post_signed(client, INBOUND_PATH, inbound_params("HELP", from_=phone, to=FORGOTTEN))
    assert twiml_messages(again) == []
    assert InboundMessage.objects.get(body="HELP").answered_by == "provider"


def test_it_queues_a_likely_revocation_to_a_number_with_no_sender_for_review(
    client, business, subscriber
):
    params = inbound_params("not interested", from_=subscriber.phone, to=FORGOTTEN)

    response = post_signed(client, INBOUND_PATH, params)

    assert twiml_messages(response) == []
    review = RevocationReview.objects.get()
    assert review.contact == subscriber and review.inbound.to_number == FORGOTTEN
    assert not ConsentEvent.objects.filter(kind="opt_out").exists()


def test_it_stores_other_messages_to_a_number_with_no_sender_without_a_contact(client, business):
    phone = next_phone()

    response = post_signed(client, INBOUND_PATH, inbound_params("hi", from_=phone, to=FORGOTTEN))

    assert twiml_messages(response) == []
    message = InboundMessage.objects.get()
    assert (message.contact, message.sender) == (None, None)
    assert OperatorAlert.objects.get().count == 1
