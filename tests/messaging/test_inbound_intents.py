"""What an inbound message does: opt-out, help, opt-in, review, conversation; one reply each."""

import zoneinfo
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from consent import services
from consent.models import (
    ConsentConfirmation,
    ConsentEvent,
    ConsentState,
    Suppression,
)
from messaging import inbound
from messaging.inbound import inbound_receive
from messaging.models import Conversation, InboundMessage, OutboundMessage, RevocationReview
from messaging.services import message_queue
from tests.factories import create_contact, create_program, create_sender, next_phone, opt_in

from .twilio_helpers import (
    OUR_NUMBER,
    inbound_params,
    post_inbound,
    replies_sent,
    twiml_messages,
)

pytestmark = pytest.mark.django_db

NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
OFFERS_STOP = "Acme: you are unsubscribed and will get no more messages."


@pytest.fixture
def elsewhere():
    """A program sent from another of our numbers."""
    program = create_program("newsletter", brand_name="Acme News")
    create_sender(program, phone_number="+18335550177")
    return program


@pytest.fixture
def contact(offers, alerts, elsewhere):
    contact = create_contact()
    for program in (offers, alerts, elsewhere):
        opt_in(contact, program)
    return contact


def text(client, contact_or_phone, body: str, **extra):
    """Text us; returns our replies the provider accepted (never TwiML: sent through the API)."""
    phone = getattr(contact_or_phone, "phone", contact_or_phone)
    params = inbound_params(body, from_=phone, **extra)
    response = post_inbound(client, params)
    assert response.status_code == 200
    assert twiml_messages(response) == []
    return replies_sent(params)


def status(contact, program) -> str:
    return ConsentState.objects.get(contact=contact, program=program).status


def waiting(contact, program, state: str = "queued") -> OutboundMessage:
    # Due tomorrow: the dispatch of a reply in the same test must not send it.
    message = message_queue(
        contact=contact,
        program=program,
        body="Sale!",
        kind="api",
        send_at=timezone.now() + timedelta(days=1),
    )
    assert message.status == "queued"
    if state == "held":
        OutboundMessage.objects.filter(pk=message.pk).update(status="held", reason="quiet_hours")
    return message


def reload(message: OutboundMessage) -> OutboundMessage:
    return OutboundMessage.objects.get(pk=message.pk)


# --- Opt-out ----------------------------------------------------------------------------------


def test_it_revokes_every_program_of_the_sender_on_stop(
    client, sender, contact, offers, alerts, elsewhere
):
    text(client, contact, "STOP")

    assert status(contact, offers) == status(contact, alerts) == "opted_out"
    assert status(contact, elsewhere) == "opted_in"  # another number's program is not touched
    message = InboundMessage.objects.get()
    for event in ConsentEvent.objects.filter(kind="opt_out"):
        assert event.method == "keyword"
        assert event.source == f"STOP to {OUR_NUMBER}"
        assert event.evidence["text"] == "STOP"
        assert event.evidence["message_sid"] == message.provider_sid
        assert event.occurred_at == message.received_at
    assert not Suppression.objects.exists()
    assert message.intent == "opt_out"


def test_it_sends_exactly_one_confirmation_and_records_it(client, sender, contact):
    replies = text(client, contact, "stop")

    assert replies == [OFFERS_STOP]  # offers and alerts are one brand: one confirmation
    reply = OutboundMessage.objects.get(kind="auto_reply")
    message = InboundMessage.objects.get()
    assert (reply.status, reply.reason, reply.body) == ("sent", "stop_confirmation", OFFERS_STOP)
    assert reply.provider_sid.startswith("SM")  # a real provider message id, via the REST API
    assert (reply.in_reply_to, reply.sender, reply.to) == (message, sender, contact.phone)
    assert list(reply.events.values_list("kind", flat=True)) == ["queued", "sent"]
    assert (message.reply, message.answered_by) == (OFFERS_STOP, "us")
    events = ConsentEvent.objects.filter(kind="opt_out")
    assert events.count() == 2
    confirmations = ConsentConfirmation.objects.filter(event__in=events)
    assert confirmations.count() == 2
    assert {c.message_ref for c in confirmations} == {str(reply.pk)}


def test_it_names_each_brand_in_its_one_confirmation(client, sender, contact, alerts):
    alerts.brand_name = "Beta Alerts"
    alerts.save()

    replies = text(client, contact, "STOP")

    assert replies == [f"{OFFERS_STOP}\nAcme Alerts: you will get no more alerts."]
    assert OutboundMessage.objects.filter(kind="auto_reply").count() == 1


def test_it_cancels_queued_and_held_messages_in_the_same_transaction(
    client, sender, contact, offers, alerts, elsewhere, monkeypatch
):
    queued, held = waiting(contact, offers), waiting(contact, alerts, "held")
    other = waiting(contact, elsewhere)
    seen = {}
    store_reply = inbound._store_reply

    def spy(ctx):
        # Still inside the webhook's transaction: the revocation is not committed yet.
        seen["atomic"] = connection.in_atomic_block
        seen["statuses"] = {reload(m).status for m in (queued, held)}
        seen["state"] = status(contact, offers)
        return store_reply(ctx)

    monkeypatch.setattr(inbound, "_store_reply", spy)

    text(client, contact, "STOP")

    assert seen == {"atomic": True, "statuses": {"cancelled"}, "state": "opted_out"}
    assert reload(queued).reason == reload(held).reason == "cancelled_by_opt_out"
    assert reload(other).status == "queued"


def test_it_rolls_back_the_revocation_and_the_cancellations_together(
    client, sender, contact, offers, monkeypatch
):
    queued = waiting(contact, offers)

    def fail(ctx):
        raise RuntimeError("reply could not be stored")

    monkeypatch.setattr(inbound, "_store_reply", fail)

    with pytest.raises(RuntimeError):
        text(client, contact, "STOP")

    assert reload(queued).status == "queued"
    assert status(contact, offers) == "opted_in"
    assert not InboundMessage.objects.exists()  # Twilio's retry will process it afresh


def test_it_revokes_everything_and_suppresses_the_number_on_stopall(
    client, sender, contact, offers, alerts, elsewhere
):
    other = waiting(contact, elsewhere)

    replies = text(client, contact, "STOPALL")

    assert replies == [OFFERS_STOP]
    assert {status(contact, p) for p in (offers, alerts, elsewhere)} == {"opted_out"}
    suppression = Suppression.objects.get()
    assert (suppression.reason, suppression.program, suppression.phone) == (
        "opt_out_all",
        None,
        contact.phone,
    )
    assert reload(other).status == "cancelled"
    assert ConsentConfirmation.objects.count() == 3


def test_it_widens_every_stop_to_revoke_all_under_the_revoke_all_setting(
    client, sender, contact, elsewhere, settings
):
    settings.SMS_REVOKE_ALL = True

    text(client, contact, "STOP")

    assert status(contact, elsewhere) == "opted_out"
    assert Suppression.objects.get().reason == "opt_out_all"


def test_it_revokes_on_a_free_text_revocation(client, sender, contact, offers):
    replies = text(client, contact, "Please stop texting me")

    assert replies == [OFFERS_STOP]
    assert status(contact, offers) == "opted_out"
    event = ConsentEvent.objects.filter(kind="opt_out").first()
    assert event.source == f"Please stop texting me to {OUR_NUMBER}"
    assert event.evidence["matched"] == "phrase:stop + verb"


def test_it_records_a_stop_from_someone_never_opted_in(client, sender, offers):
    phone = next_phone()

    assert text(client, phone, "STOP") == [OFFERS_STOP]

    state = ConsentState.objects.get(contact__phone=phone, program=offers)
    assert state.status == "opted_out"  # their wish is the record


# --- Help -------------------------------------------------------------------------------------


def test_it_answers_help_to_a_stranger_without_touching_consent(client, sender, offers):
    replies = text(client, next_phone(), "HELP")

    assert replies == [offers.help_text]
    reply = OutboundMessage.objects.get()
    assert (reply.kind, reply.reason, reply.status) == ("auto_reply", "help_reply", "sent")
    assert not ConsentEvent.objects.exists()
    assert not Conversation.objects.exists()
    assert InboundMessage.objects.get().intent == "help"


# --- Opt-in -----------------------------------------------------------------------------------


@pytest.mark.parametrize("keyword", ["START", "unstop"])
def test_it_re_opts_in_and_lifts_the_suppressions_on_start(
    client, sender, offers, alerts, elsewhere, keyword
):
    contact = create_contact()
    opt_in(contact, offers)
    opt_in(contact, elsewhere)
    text(client, contact, "STOPALL")
    services.suppression_add(phone=contact.phone, reason="carrier_21610")

    replies = text(client, contact, keyword)

    assert replies == [offers.opt_in_confirmation_text]
    assert status(contact, offers) == "opted_in"
    assert status(contact, alerts) == "opted_out"  # never joined: START does not enrol
    assert status(contact, elsewhere) == "opted_out"  # another number's program
    event = ConsentEvent.objects.get(kind="re_opt_in")
    assert (event.method, event.source) == ("keyword", f"{keyword.upper()} to {OUR_NUMBER}")
    assert event.confirmation.message_ref == str(
        OutboundMessage.objects.get(reason="opt_in_confirmation").pk
    )
    lifted = Suppression.objects.filter(lifted_at__isnull=False)
    assert {s.reason for s in lifted} == {"opt_out_all", "carrier_21610"}
    assert all(keyword in s.lift_note for s in lifted)
    assert not Suppression.objects.filter(lifted_at__isnull=True).exists()


def test_it_opts_in_with_a_join_keyword_in_any_case(client, sender, offers):
    offers.double_opt_in = True
    offers.save()
    phone = next_phone()

    replies = text(client, phone, " join! ")

    assert replies == [offers.opt_in_confirmation_text]
    state = ConsentState.objects.get(contact__phone=phone, program=offers)
    assert state.status == "opted_in"  # texted from the handset: possession is proven
    event = state.last_event
    assert (event.kind, event.method, event.source) == (
        "opt_in",
        "keyword",
        f"JOIN to {OUR_NUMBER}",
    )
    assert event.disclosure == offers.current_disclosure()
    message = InboundMessage.objects.get()
    assert (message.intent, message.matched) == ("opt_in", "join:JOIN")


def test_it_confirms_a_pending_double_opt_in_on_yes(client, sender, offers):
    offers.double_opt_in = True
    offers.save()
    contact = create_contact()
    opt_in(contact, offers, confirmed=False)
    assert status(contact, offers) == "pending"

    replies = text(client, contact, "Yes")

    assert replies == [offers.opt_in_confirmation_text]
    assert status(contact, offers) == "opted_in"
    event = ConsentEvent.objects.get(kind="opt_in_confirmed")
    assert event.evidence["message_sid"] == InboundMessage.objects.get().provider_sid
    assert event.confirmation.sent_at is not None


def test_it_hands_an_opt_in_with_nothing_to_do_to_a_person(client, sender, offers):
    contact = create_contact()
    opt_in(contact, offers)

    assert text(client, contact, "YES") == []

    assert ConsentEvent.objects.count() == 1
    message = InboundMessage.objects.get()
    assert message.conversation is not None
    assert message.matched == "keyword:yes (nothing to opt in)"


# --- Review and conversations -----------------------------------------------------------------


def test_it_queues_a_likely_revocation_for_review_with_a_deadline_across_a_holiday(sender, offers):
    contact = create_contact()
    opt_in(contact, offers)
    received = datetime(2025, 11, 19, 15, 0, tzinfo=NEW_YORK)  # a Wednesday before Thanksgiving
    params = inbound_params("not interested", from_=contact.phone)

    assert inbound_receive(params=params, received_at=received) == ""

    review = RevocationReview.objects.get()
    assert review.deadline == datetime(2025, 12, 4, 15, 0, tzinfo=NEW_YORK)  # 10 business days
    assert (review.status, review.contact) == ("pending", contact)
    message = InboundMessage.objects.get()
    assert message.intent == "review"
    assert message.conversation.status == "open"
    assert status(contact, offers) == "opted_in"  # a person decides


def test_it_opens_and_reopens_the_conversation_for_other_messages(client, sender):
    contact = create_contact()

    assert text(client, contact, "Is my order ready?") == []
    conversation = Conversation.objects.get()
    assert (conversation.contact, conversation.sender, conversation.status) == (
        contact,
        sender,
        "open",
    )
    Conversation.objects.filter(pk=conversation.pk).update(status="closed")

    text(client, contact, "Hello again")

    conversation.refresh_from_db()
    assert conversation.status == "open" and conversation.closed_at is None
    assert list(conversation.inbound.values_list("body", flat=True).order_by("id")) == [
        "Is my order ready?",
        "Hello again",
    ]


def test_it_routes_a_support_keyword_to_the_conversation(client, sender):
    contact = create_contact()

    text(client, contact, "agent")

    message = InboundMessage.objects.get()
    assert message.matched == "support:AGENT"
    assert message.conversation.status == "open"


@pytest.fixture
def after_hours(settings):
    settings.SMS_AFTER_HOURS_REPLY = "Thanks! We are closed now and will answer from 9am ET."
    return settings.SMS_AFTER_HOURS_REPLY


def test_it_acknowledges_after_hours_once_per_night(sender, after_hours):
    contact = create_contact()

    def at(*when) -> str:
        params = inbound_params("Where is my parcel?", from_=contact.phone)
        return inbound_receive(params=params, received_at=datetime(*when, tzinfo=NEW_YORK))

    assert at(2025, 11, 20, 18, 30) == after_hours  # Thursday evening
    assert at(2025, 11, 20, 23, 0) == ""  # same night
    assert at(2025, 11, 21, 10, 0) == ""  # Friday, business hours
    assert at(2025, 11, 21, 17, 0) == after_hours  # Friday night, closing time
    assert at(2025, 11, 22, 12, 0) == ""  # Saturday: the same long night
    reply = OutboundMessage.objects.filter(reason="after_hours").first()
    # Queued for the dispatcher: "sent" only once the provider accepts it.
    assert (reply.kind, reply.status, reply.message_type) == (
        "auto_reply",
        "queued",
        "customer_care",
    )
    assert OutboundMessage.objects.filter(reason="after_hours").count() == 2


def test_it_never_acknowledges_an_opted_out_number(sender, after_hours, offers):
    contact = create_contact()
    opt_in(contact, offers)
    services.consent_revoke(contact=contact, programs=[offers], method="api", source="test")
    params = inbound_params("hello?", from_=contact.phone)

    assert (
        inbound_receive(params=params, received_at=datetime(2025, 11, 20, 20, tzinfo=NEW_YORK))
        == ""
    )
