"""What the provider already did with a keyword: OptOutType is authoritative, exact default
keywords on a provider-handled sender get no reply of ours."""

import pytest

from consent.models import ConsentState
from messaging.inbound import Reply, inbound_receive
from messaging.keyword_replies import GATE_EXEMPT_REASONS
from messaging.keywords import assess
from messaging.models import InboundMessage, OutboundMessage
from messaging.provider_keywords import authoritative, opt_out_type, provider_keyword
from tests.factories import create_contact, create_sender, opt_in

from .twilio_helpers import OUR_NUMBER, inbound_params

LONG_CODE = "+14155550177"


@pytest.mark.parametrize(
    ("body", "kind"),
    [("STOP", "STOP"), (" stopall ", "STOP"), ("Info", "HELP"), ("unstop", "START"),
     ("stop please", ""), ("please stop texting me", ""), ("ACMEOFF", "")],
)  # fmt: skip
def test_it_matches_only_twilios_exact_default_keywords(body, kind):
    assert provider_keyword(body) == kind


def test_it_reads_opt_out_type_and_ignores_anything_else():
    assert opt_out_type({"OptOutType": "stop"}) == "STOP"
    assert opt_out_type({"OptOutType": "BOGUS"}) == ""
    assert opt_out_type({}) == ""


@pytest.mark.parametrize(
    ("word", "opt_out_type_", "intent"),
    [("ACMEOFF", "STOP", "opt_out"), ("ACMEON", "START", "opt_in"), ("ACMEINFO", "HELP", "help")],
)
def test_opt_out_type_overrides_the_classifier(word, opt_out_type_, intent):
    assert assess(word).intent == "other"
    assert authoritative(assess(word), {"OptOutType": opt_out_type_}).intent == intent


def test_the_gate_exempt_replies_are_the_stop_and_help_replies():
    assert {Reply.STOP, Reply.HELP} == GATE_EXEMPT_REASONS


@pytest.mark.django_db
def test_it_leaves_a_custom_help_word_to_the_provider(twilio_webhooks, offers):
    create_sender(offers, phone_number=LONG_CODE)  # a long code: the provider answers
    params = inbound_params(
        "ACMEINFO", from_=create_contact().phone, to=LONG_CODE, OptOutType="HELP"
    )

    inbound_receive(params=params)

    message = InboundMessage.objects.get()
    assert (message.intent, message.answered_by) == ("help", "provider")
    assert not OutboundMessage.objects.exists()


@pytest.mark.django_db
def test_a_second_stop_does_not_cancel_the_first_ones_confirmation(sender, offers):
    contact = create_contact()
    opt_in(contact, offers)

    inbound_receive(params=inbound_params("STOP", from_=contact.phone, to=OUR_NUMBER))
    inbound_receive(params=inbound_params("STOP", from_=contact.phone, to=OUR_NUMBER))

    assert ConsentState.objects.get(contact=contact, program=offers).status == "opted_out"
    statuses = OutboundMessage.objects.filter(reason="stop_confirmation").values_list(
        "status", flat=True
    )
    assert list(statuses) == ["queued", "queued"]


@pytest.mark.django_db
def test_opt_out_type_means_the_provider_answered_even_on_a_sender_set_to_us(sender, offers):
    contact = create_contact()
    opt_in(contact, offers)
    params = inbound_params("ACMEOFF", from_=contact.phone, to=OUR_NUMBER, OptOutType="STOP")

    inbound_receive(params=params)

    assert sender.keyword_replies == "us"
    assert InboundMessage.objects.get().answered_by == "provider"
    assert ConsentState.objects.get(contact=contact, program=offers).status == "opted_out"
    assert not OutboundMessage.objects.exists()  # no second reply
