"""The inbound webhook: only Twilio gets in, each MessageSid is handled once, always a 200."""

import threading

import pytest
from django.db import connection
from django.test import Client

from consent.models import ConsentEvent, ConsentState, Contact
from messaging.models import InboundMessage, OutboundMessage
from tests.factories import create_contact, create_program, create_sender, next_phone, opt_in

from .twilio_helpers import (
    INBOUND_PATH,
    PUBLIC_BASE_URL,
    inbound_params,
    post_signed,
    sign,
    twiml_messages,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def contact(offers):
    contact = create_contact()
    opt_in(contact, offers)
    return contact


def nothing_stored() -> bool:
    return (
        not InboundMessage.objects.exists()
        and not ConsentEvent.objects.filter(kind="opt_out").exists()
    )


def test_it_refuses_a_request_without_a_signature_and_stores_nothing(client, sender, contact):
    response = client.post(INBOUND_PATH, inbound_params("STOP", from_=contact.phone))

    assert response.status_code == 403
    assert nothing_stored()


def test_it_refuses_a_signature_made_with_another_token(client, sender, contact):
    params = inbound_params("STOP", from_=contact.phone)

    response = post_signed(client, INBOUND_PATH, params, token="not-our-auth-token")

    assert response.status_code == 403
    assert nothing_stored()


def test_it_refuses_a_forged_body_under_a_genuine_signature(client, sender, contact):
    params = inbound_params("hello", from_=contact.phone)
    signature = sign(PUBLIC_BASE_URL + INBOUND_PATH, params)
    forged = params | {"Body": "STOP"}

    response = client.post(INBOUND_PATH, forged, HTTP_X_TWILIO_SIGNATURE=signature)

    assert response.status_code == 403
    assert nothing_stored()
    assert ConsentState.objects.get(contact=contact).status == "opted_in"


def test_it_refuses_everything_when_no_auth_token_is_configured(client, sender, contact, settings):
    params = inbound_params("STOP", from_=contact.phone)
    signature = sign(PUBLIC_BASE_URL + INBOUND_PATH, params, token="")
    settings.TWILIO_AUTH_TOKEN = ""

    response = client.post(INBOUND_PATH, params, HTTP_X_TWILIO_SIGNATURE=signature)

    assert response.status_code == 403
    assert nothing_stored()


def test_it_accepts_a_genuine_request_and_stores_it_raw(client, sender, contact):
    params = inbound_params("Hi, is the store open today?", from_=contact.phone)

    response = post_signed(client, INBOUND_PATH, params)

    assert response.status_code == 200
    assert twiml_messages(response) == []
    message = InboundMessage.objects.get()
    assert message.raw == params
    assert message.provider_sid == params["MessageSid"]
    assert (message.contact, message.sender, message.intent) == (contact, sender, "other")


def test_it_checks_the_signature_over_the_public_url_behind_a_proxy(client, sender, contact):
    """The request reaches us as http://testserver/...; Twilio signed the public HTTPS URL."""
    params = inbound_params("hello", from_=contact.phone)
    internal = f"http://testserver{INBOUND_PATH}"

    assert post_signed(client, INBOUND_PATH, params, url=internal).status_code == 403
    assert post_signed(client, INBOUND_PATH, params).status_code == 200


def test_it_includes_the_query_string_in_the_signed_url(client, sender, contact):
    params = inbound_params("hello", from_=contact.phone)
    path = INBOUND_PATH + "?source=twilio&v=2"

    assert post_signed(client, path, params, url=PUBLIC_BASE_URL + INBOUND_PATH).status_code == 403
    assert post_signed(client, path, params).status_code == 200


def test_it_refuses_an_oversized_body_with_413_and_stores_nothing(client, sender, contact):
    params = inbound_params("x" * 70_000, from_=contact.phone)

    response = post_signed(client, INBOUND_PATH, params)

    assert response.status_code == 413
    assert nothing_stored()


def test_it_refuses_a_get(client, sender):
    assert client.get(INBOUND_PATH).status_code == 405


def test_it_answers_400_to_a_signed_request_without_a_message_sid(client, sender, contact):
    params = inbound_params("hello", from_=contact.phone)
    del params["MessageSid"], params["SmsSid"], params["SmsMessageSid"]

    assert post_signed(client, INBOUND_PATH, params).status_code == 400
    assert nothing_stored()


def test_it_answers_a_retried_message_sid_the_same_and_processes_it_once(client, sender, contact):
    params = inbound_params("STOP", from_=contact.phone)

    first = post_signed(client, INBOUND_PATH, params)
    retry = post_signed(client, INBOUND_PATH, params)

    assert first.status_code == retry.status_code == 200
    assert retry.content == first.content
    assert twiml_messages(first) == []  # our reply goes out through the REST API
    assert InboundMessage.objects.count() == 1
    assert ConsentEvent.objects.filter(kind="opt_out").count() == 2  # offers and alerts, once
    assert OutboundMessage.objects.filter(kind="auto_reply").count() == 1


def test_it_answers_a_retried_help_the_same(client, sender):
    params = inbound_params("HELP", from_=next_phone())

    first = post_signed(client, INBOUND_PATH, params)
    retry = post_signed(client, INBOUND_PATH, params)

    assert twiml_messages(first) == twiml_messages(retry) == []
    assert list(OutboundMessage.objects.values_list("body", "kind")) == [
        ("Acme: help at acme.example/help or 800-555-0100. Reply STOP to cancel.", "auto_reply")
    ]


def test_it_answers_200_to_a_message_for_a_number_with_no_sender(client, sender, contact):
    """A STOP to it takes effect: see test_inbound_unconfigured_number.py."""
    params = inbound_params("STOP", from_=contact.phone, to="+18335550199")

    response = post_signed(client, INBOUND_PATH, params)

    assert response.status_code == 200
    message = InboundMessage.objects.get()
    assert message.sender is None and message.raw == params
    assert ConsentEvent.objects.filter(kind="opt_out", contact=contact).exists()


def test_it_answers_200_to_a_sender_that_is_not_a_phone_number(client, sender):
    params = inbound_params("HELP", from_="ACMEBANK")

    response = post_signed(client, INBOUND_PATH, params)

    assert response.status_code == 200
    assert twiml_messages(response) == []
    assert InboundMessage.objects.get().contact is None
    assert not Contact.objects.exists()


def test_it_answers_a_stranger_and_records_who_wrote(client, sender):
    phone = next_phone()

    response = post_signed(client, INBOUND_PATH, inbound_params("hello there", from_=phone))

    assert response.status_code == 200
    assert InboundMessage.objects.get().contact == Contact.objects.get(phone=phone)


def test_it_keeps_the_reply_text_as_written(client, sender, offers, alerts):
    for program in (offers, alerts):
        program.help_text = 'Acme <Help> & "Support": reply STOP to cancel.'
        program.save()

    response = post_signed(client, INBOUND_PATH, inbound_params("help", from_=next_phone()))

    assert twiml_messages(response) == []
    reply = OutboundMessage.objects.get(kind="auto_reply")
    assert reply.body == 'Acme <Help> & "Support": reply STOP to cancel.'  # no XML escaping


def test_it_finds_a_sender_by_messaging_service(client, twilio_webhooks):
    program = create_program("svc")
    create_sender(program, phone_number=None, messaging_service_sid="MG" + "7" * 32)
    params = inbound_params(
        "HELP", from_=next_phone(), to="+18335550142", MessagingServiceSid="MG" + "7" * 32
    )

    post_signed(client, INBOUND_PATH, params)

    # A toll-free or long-code service: Twilio itself answered the HELP, we do not.
    message = InboundMessage.objects.get()
    assert (message.to_number, message.intent, message.answered_by) == (
        "+18335550142",
        "help",
        "provider",
    )
    assert not OutboundMessage.objects.exists()


THREADS = 8


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_it_processes_a_message_sid_posted_concurrently_exactly_once(sender, contact):
    params = inbound_params("STOP", from_=contact.phone)
    start = threading.Barrier(THREADS)
    responses, errors = [], []

    def deliver() -> None:
        try:
            start.wait()
            responses.append(post_signed(Client(), INBOUND_PATH, params))
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert {r.status_code for r in responses} == {200}
    assert len({r.content for r in responses}) == 1  # every retry got the same answer
    assert twiml_messages(responses[0]) == []
    assert list(OutboundMessage.objects.values_list("body", flat=True)) == [
        "Acme: you are unsubscribed and will get no more messages."
    ]
    assert InboundMessage.objects.count() == 1
    assert ConsentEvent.objects.filter(kind="opt_out").count() == 2  # offers and alerts, once
    assert OutboundMessage.objects.filter(kind="auto_reply").count() == 1
