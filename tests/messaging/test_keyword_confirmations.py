"""One confirmation reaches a person who texts STOP, whoever answers keywords on that sender,
and the records say who sent it and whether it was delivered (against the Twilio stand-in)."""

import pytest
from django.test import TestCase

from config.lib.process_cache import clear_all as clear_process_caches
from consent.models import ConsentConfirmation, ConsentEvent, ConsentState
from messaging.models import InboundMessage, OutboundMessage
from tests.factories import create_contact, create_program, create_sender, opt_in

from .twilio_helpers import INBOUND_PATH, PUBLIC_BASE_URL, STATUS_PATH

pytestmark = pytest.mark.django_db

OUR_STOP = "Acme Offers: you are unsubscribed and will get no more messages. Help: 800-555-0100"
LONG_CODE, TOLL_FREE, SHORT_CODE = "+14155550100", "+18335550100", "+15555501234"


@pytest.fixture
def twilio(twilio_standin, settings):
    """Our product talking to the stand-in, as deployed: REST sends, signed webhooks."""
    for name, value in twilio_standin.django_settings().items():
        setattr(settings, name, value)
    settings.SMS_BACKEND = "twilio"
    settings.PUBLIC_BASE_URL = PUBLIC_BASE_URL
    settings.SMS_REVOKE_ALL = False
    clear_process_caches()
    yield twilio_standin
    clear_process_caches()


@pytest.fixture
def offers():
    return create_program("offers", opt_out_confirmation_text=OUR_STOP)


def sender(program, kind: str, number: str, **fields):
    return create_sender(program, phone_number=number, kind=kind, name=kind, **fields)


def text(client, twilio, person: str, to: str, body: str):
    """The person texts us: the stand-in's keyword handling, then its signed webhook; then the
    task queue runs (our reply's dispatch) and the stand-in settles and calls back."""
    webhook = twilio.incoming(person, to, body, url=PUBLIC_BASE_URL + INBOUND_PATH)
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(INBOUND_PATH, webhook.params, **webhook.client_kwargs())
    assert response.status_code == 200
    for callback in twilio.settle():
        path = STATUS_PATH + "?" + callback.url.split("?", 1)[1]
        assert client.post(path, callback.params, **callback.client_kwargs()).status_code == 200
    return InboundMessage.objects.get(provider_sid=webhook.params["MessageSid"])


def reached(twilio, person: str) -> list[str]:
    """Every text that reached the person: the provider's own replies and our delivered ones."""
    provider = [r.body for r in twilio.provider_replies if r.to == person]
    ours = [
        m.body
        for m in OutboundMessage.objects.filter(to=person, status="delivered")
        if m.provider_sid in {r.sid for r in twilio.received_for(person)}
    ]
    return provider + ours


@pytest.mark.parametrize(
    ("kind", "number", "provider_answers"),
    [("10dlc", LONG_CODE, True), ("toll_free", TOLL_FREE, True), ("short_code", SHORT_CODE, False)],
)
def test_it_gets_one_stop_confirmation_to_the_person_on_each_kind_of_sender(
    client, twilio, offers, kind, number, provider_answers
):
    our_sender = sender(offers, kind, number)
    assert our_sender.provider_answers_keywords is provider_answers  # the kind's default
    twilio.configure_sender(number, provider_handles_keywords=provider_answers)
    contact = create_contact()
    opt_in(contact, offers)

    inbound = text(client, twilio, contact.phone, number, "STOP")

    assert len(reached(twilio, contact.phone)) == 1
    assert ConsentState.objects.get(contact=contact).status == "opted_out"
    confirmation = ConsentConfirmation.objects.get(event__kind="opt_out")
    if provider_answers:
        assert inbound.answered_by == "provider"
        assert confirmation.message_ref == f"provider:{inbound.provider_sid}"
        assert not OutboundMessage.objects.exists()  # no false "sent" reply of ours
    else:
        reply = OutboundMessage.objects.get(kind="auto_reply")
        assert (inbound.answered_by, inbound.reply) == ("us", OUR_STOP)
        assert (reply.status, reply.body) == ("delivered", OUR_STOP)
        assert reply.provider_sid.startswith("SM")
        assert confirmation.message_ref == str(reply.pk)
        assert reached(twilio, contact.phone) == [OUR_STOP]


def test_it_records_the_providers_advanced_opt_out_text_as_the_reply(client, twilio, offers):
    text_at_twilio = "Acme Offers: unsubscribed. No more msgs. Help: 800-555-0100"
    sender(offers, "10dlc", LONG_CODE, provider_stop_text=text_at_twilio)
    twilio.configure_sender(LONG_CODE, advanced_opt_out=True, replies={"STOP": text_at_twilio})
    contact = create_contact()
    opt_in(contact, offers)

    inbound = text(client, twilio, contact.phone, LONG_CODE, "stop")

    assert reached(twilio, contact.phone) == [text_at_twilio]
    assert (inbound.answered_by, inbound.reply) == ("provider", text_at_twilio)
    assert inbound.raw["OptOutType"] == "STOP"


def test_it_treats_an_unknown_word_with_opt_out_type_stop_as_an_opt_out(client, twilio, offers):
    service = "MG" + "1" * 32
    sender(offers, "10dlc", LONG_CODE)
    twilio.configure_sender(
        LONG_CODE,
        advanced_opt_out=True,
        custom_keywords={"ACMEOFF": "STOP"},
        messaging_service_sid=service,
    )
    contact = create_contact()
    opt_in(contact, offers)

    inbound = text(client, twilio, contact.phone, LONG_CODE, "AcmeOff")

    assert inbound.raw["OptOutType"] == "STOP"
    assert inbound.intent == "opt_out"
    event = ConsentEvent.objects.get(kind="opt_out")
    assert event.evidence["text"] == "AcmeOff"
    assert ConsentState.objects.get(contact=contact).status == "opted_out"
    assert not OutboundMessage.objects.exists()
    assert len(reached(twilio, contact.phone)) == 1


def test_it_sends_and_delivers_its_own_confirmation_to_a_free_text_revocation(
    client, twilio, offers
):
    sender(offers, "10dlc", LONG_CODE)
    contact = create_contact()
    opt_in(contact, offers)

    inbound = text(client, twilio, contact.phone, LONG_CODE, "please stop texting me")

    assert twilio.provider_replies == []  # Twilio only acts on exact keywords
    assert reached(twilio, contact.phone) == [OUR_STOP]
    reply = OutboundMessage.objects.get(kind="auto_reply")
    assert inbound.answered_by == "us"
    assert ConsentConfirmation.objects.get().message_ref == str(reply.pk)


@pytest.mark.parametrize("word", ["HELP", "START"])
def test_it_adds_no_second_reply_to_help_or_start_on_a_long_code(client, twilio, offers, word):
    sender(offers, "10dlc", LONG_CODE)
    contact = create_contact()
    opt_in(contact, offers)
    text(client, twilio, contact.phone, LONG_CODE, "STOP")

    inbound = text(client, twilio, contact.phone, LONG_CODE, word)

    assert inbound.answered_by == "provider"
    assert not OutboundMessage.objects.exists()
    assert [r.keyword for r in twilio.provider_replies] == ["STOP", word]
    if word == "START":
        assert ConsentState.objects.get(contact=contact).status == "opted_in"
        assert ConsentEvent.objects.get(kind="re_opt_in").confirmation.message_ref == (
            f"provider:{inbound.provider_sid}"
        )


def test_it_confirms_nothing_when_its_reply_is_refused(client, twilio, offers):
    """A reply that never leaves is no confirmation: here the stand-in refuses every send."""
    sender(offers, "short_code", SHORT_CODE)
    twilio.configure_sender(SHORT_CODE, provider_handles_keywords=False)
    contact = create_contact()
    opt_in(contact, offers)
    twilio.fail_requests(400, code=21614, count=1)

    text(client, twilio, contact.phone, SHORT_CODE, "STOP")

    reply = OutboundMessage.objects.get(kind="auto_reply")
    assert reply.status == "failed"
    assert not ConsentConfirmation.objects.exists()
