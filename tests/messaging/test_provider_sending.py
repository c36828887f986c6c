"""Sending against the Twilio stand-in: ValidityPeriod and expiry, 21611, failures that only
arrive by status callback, prices after sending, and finding a Smart-Encoded message again."""

from datetime import timedelta

import pytest
from django.utils import timezone

from consent.models import ConsentEvent, ConsentState, Suppression
from messaging.dispatch import Dispatcher
from messaging.models import OutboundMessage
from messaging.prices import prices_fetch
from messaging.providers import OutboundRequest
from messaging.providers.twilio import TwilioBackend
from messaging.services import message_queue
from tests.factories import create_contact, create_program, create_sender, opt_in

from .twilio_helpers import PUBLIC_BASE_URL, STATUS_PATH

pytestmark = pytest.mark.django_db

SERVICE = "MG" + "2" * 32


@pytest.fixture
def twilio(twilio_standin, settings, no_quiet_hours):
    for name, value in twilio_standin.django_settings().items():
        setattr(settings, name, value)
    settings.SMS_BACKEND = "twilio"
    settings.PUBLIC_BASE_URL = PUBLIC_BASE_URL
    settings.SMS_VALIDITY_PERIOD_SECONDS = 14_400
    return twilio_standin


@pytest.fixture
def offers():
    return create_program("offers", message_type="transactional")


def queued(
    program, *, service: bool = False, body: str = "Your order has shipped."
) -> OutboundMessage:
    fields = {"phone_number": None, "messaging_service_sid": SERVICE} if service else {}
    sender = program.senders.first() or create_sender(program, **fields)
    contact = create_contact()
    opt_in(contact, program)
    return message_queue(contact=contact, program=program, body=body, kind="api", sender=sender)


def dispatch() -> None:
    Dispatcher(sleep=lambda s: None).run_batch()


def callbacks(client, twilio, *, advance: float = 0.0) -> None:
    for callback in twilio.settle(advance=advance):
        path = STATUS_PATH + "?" + callback.url.split("?", 1)[1]
        assert client.post(path, callback.params, **callback.client_kwargs()).status_code == 200


def reload(message: OutboundMessage) -> OutboundMessage:
    return OutboundMessage.objects.get(pk=message.pk)


def side_effects(message: OutboundMessage) -> tuple:
    """What a failure did to the number: opt-outs recorded and suppressions, by reason."""
    return (
        list(
            ConsentEvent.objects.filter(contact=message.contact)
            .order_by("pk")
            .values_list("kind", "method")
        ),
        ConsentState.objects.get(contact=message.contact).status,
        list(Suppression.objects.filter(phone=message.to).values_list("reason", flat=True)),
    )


def test_it_sends_a_validity_period_and_records_an_expiry_as_its_own_outcome(
    client, twilio, offers
):
    message = queued(offers)
    dispatch()
    assert twilio.message(reload(message).provider_sid)["status"] == "queued"
    assert twilio._messages[reload(message).provider_sid].validity_period == 14_400

    callbacks(client, twilio, advance=14_400 + 60)  # still in Twilio's queue by then

    message = reload(message)
    assert (message.status, message.error_code) == ("expired", 30036)
    assert list(message.events.values_list("kind", flat=True))[-1] == "expired"
    assert not Suppression.objects.exists()  # the number did nothing wrong


def test_it_retries_a_full_queue_21611_instead_of_failing(client, twilio, offers):
    message = queued(offers)
    twilio.queue_full(count=1)

    dispatch()

    message = reload(message)
    assert (message.status, message.error_code) == ("queued", 21611)
    assert message.events.filter(kind="retried").exists()
    OutboundMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    dispatch()
    assert reload(message).status == "sent"


def test_a_late_21610_by_callback_has_the_same_effects_as_one_at_hand_off(client, twilio, offers):
    direct = queued(offers)
    twilio.fail_number(direct.to, 21610)
    dispatch()
    assert reload(direct).status == "failed"

    late = queued(create_program("alerts", message_type="transactional"), service=True)
    twilio.configure_sender("+18335550999", messaging_service_sid=SERVICE)
    twilio.incoming(late.to, "+18335550999", "STOP", url="https://elsewhere.example/")
    dispatch()
    assert reload(late).status == "sent"  # the service accepted it (201)

    callbacks(client, twilio)

    late = reload(late)
    assert (late.status, late.error_code) == ("failed", 21610)
    assert side_effects(late) == side_effects(direct)
    assert side_effects(late) == (
        [("opt_in", "web_form"), ("opt_out", "carrier")],
        "opted_out",
        ["carrier_21610"],
    )


@pytest.mark.parametrize(
    ("code", "suppressed"), [(30003, []), (30005, ["invalid"]), (30006, ["landline"])]
)
def test_a_carrier_error_arrives_only_by_callback_and_takes_its_path(
    client, twilio, offers, code, suppressed
):
    message = queued(offers)
    twilio.carrier_error(message.to, code)
    dispatch()
    assert reload(message).status == "sent"

    callbacks(client, twilio)

    message = reload(message)
    assert (message.status, message.error_code) == ("undelivered", code)
    assert list(Suppression.objects.filter(phone=message.to).values_list("reason", flat=True)) == (
        suppressed
    )


def test_it_stores_the_price_twilio_fills_in_after_sending(client, twilio, offers):
    message = queued(offers)
    dispatch()
    assert reload(message).price is None  # Twilio has no price at creation
    callbacks(client, twilio)

    outcome = prices_fetch(now=timezone.now() + timedelta(minutes=11))

    message = reload(message)
    assert outcome["priced"] == 1
    assert (str(message.price), message.price_unit) == ("-0.00790", "USD")
    assert prices_fetch(now=timezone.now() + timedelta(minutes=12))["priced"] == 0


def test_it_finds_a_timed_out_send_whose_body_smart_encoding_rewrote(twilio, offers):
    twilio.smart_encoding_services.add(SERVICE)
    body = "We\u2019re open \u201ctill 9\u201d \u2014 see you\u2026"
    message = queued(offers, service=True, body=body)
    request = OutboundRequest(
        message_id=message.pk, to=message.to, body=body, messaging_service_sid=SERVICE
    )
    sent = TwilioBackend().send(request)
    assert twilio.message(sent.provider_sid)["body"] == 'We\'re open "till 9" - see you...'

    found = TwilioBackend().find_sent(request, since=message.created_at)

    assert found is not None and found.provider_sid == sent.provider_sid
    other = OutboundRequest(
        message_id=0, to=message.to, body="Something else", messaging_service_sid=SERVICE
    )
    assert TwilioBackend().find_sent(other, since=message.created_at) is None
