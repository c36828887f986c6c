"""An opt-in made through the API or a web form is answered once: YES request or confirmation,
recorded as the event's confirmation only once the provider accepted it."""

import pytest

from campaigns.confirmations import opt_in_acknowledge
from campaigns.flow_rules import OPTED_IN_EVENT
from campaigns.models import Flow, FlowRun
from consent import services
from consent.models import ConsentConfirmation
from messaging.dispatch import Dispatcher
from messaging.models import OutboundMessage
from tests.factories import (
    create_approved_version,
    create_contact,
    create_program,
    create_sender,
    create_template,
)

pytestmark = pytest.mark.django_db

WELCOME = (
    "Acme Offers: welcome {first_name|friend}! Msg frequency varies. Msg & data rates may apply. "
    "Reply HELP for help, STOP to cancel."
)


def web_opt_in(program, contact, **kwargs):
    return services.consent_opt_in(
        program=program,
        contact=contact,
        method="web_form",
        source="https://acme.example/join",
        evidence={"ip": "203.0.113.7"},
        **kwargs,
    )


def handed_to_the_provider(message) -> OutboundMessage:
    """Run the dispatcher (locmem provider) and return the message as it then is."""
    Dispatcher().run_batch()
    message.refresh_from_db()
    return message


@pytest.fixture
def offers():
    program = create_program("offers")
    create_sender(program)
    return program


def confirmation_flow(program, *, active=True):
    template = create_template(program, name="Welcome", category="transactional")
    create_approved_version(template, body=WELCOME)
    return Flow.objects.create(
        name=f"Opt-in confirmation {program.slug}",
        trigger=OPTED_IN_EVENT,
        program=program,
        template=template,
        active=active,
    )


def test_it_asks_a_double_opt_in_to_reply_yes_and_records_it_as_the_confirmation():
    program = create_program("offers", double_opt_in=True)
    create_sender(program)
    recorded = web_opt_in(program, create_contact())
    assert recorded.event.resulting_status == "pending"

    message = opt_in_acknowledge(recorded=recorded, program=program)

    assert (message.status, message.kind, message.message_type) == (
        "queued",
        "auto_reply",
        "customer_care",
    )
    assert message.body == program.double_opt_in_request_text
    assert not ConsentConfirmation.objects.exists()  # queued is not sent
    assert handed_to_the_provider(message).status == "sent"
    confirmation = ConsentConfirmation.objects.get(event=recorded.event)
    assert confirmation.message_ref == str(message.pk)
    assert confirmation.sent_at == message.sent_at


def test_it_sends_the_programs_confirmation_text_when_no_flow_answers(offers):
    recorded = web_opt_in(offers, create_contact())
    message = opt_in_acknowledge(recorded=recorded, program=offers)
    assert message.body == offers.opt_in_confirmation_text
    assert (message.status, message.kind) == ("queued", "auto_reply")
    handed_to_the_provider(message)
    assert ConsentConfirmation.objects.get(event=recorded.event).message_ref == str(message.pk)
    assert not FlowRun.objects.exists()


def test_it_sends_the_programs_opt_in_flow_instead_of_the_plain_text(offers):
    flow = confirmation_flow(offers)
    other = create_program("alerts", message_type="transactional")
    create_sender(other)
    confirmation_flow(other)  # another program's flow never answers this opt-in
    recorded = web_opt_in(offers, create_contact(first_name="Ana"))

    message = opt_in_acknowledge(recorded=recorded, program=offers)

    assert message.kind == "flow" and message.status == "queued"
    assert message.body.startswith("Acme Offers: welcome Ana!")
    run = FlowRun.objects.get()
    assert (run.flow, run.outcome, run.message_id) == (flow, "queued", message.pk)
    assert OutboundMessage.objects.count() == 1
    assert not ConsentConfirmation.objects.exists()
    handed_to_the_provider(message)
    assert ConsentConfirmation.objects.get(event=recorded.event).message_ref == str(message.pk)


def test_an_inactive_flow_leaves_the_plain_text(offers):
    confirmation_flow(offers, active=False)
    recorded = web_opt_in(offers, create_contact())
    message = opt_in_acknowledge(recorded=recorded, program=offers)
    assert (message.kind, message.body) == ("auto_reply", offers.opt_in_confirmation_text)


def test_it_does_nothing_for_an_idempotent_repeat(offers):
    contact = create_contact()
    first = web_opt_in(offers, contact, idempotency_key="form-123")
    opt_in_acknowledge(recorded=first, program=offers)
    again = web_opt_in(offers, contact, idempotency_key="form-123")
    assert again.created is False
    assert opt_in_acknowledge(recorded=again, program=offers) is None
    assert OutboundMessage.objects.count() == 1
    Dispatcher().run_batch()
    assert ConsentConfirmation.objects.count() == 1


def test_it_records_no_confirmation_for_a_message_the_gate_blocks(offers):
    contact = create_contact()
    services.suppression_add(phone=contact.phone, reason="legal_request")
    recorded = web_opt_in(offers, contact)
    message = opt_in_acknowledge(recorded=recorded, program=offers)
    assert (message.status, message.reason) == ("blocked", "suppressed")
    assert not ConsentConfirmation.objects.exists()


def test_it_records_no_confirmation_for_a_message_the_provider_refuses(offers, locmem_sms):
    recorded = web_opt_in(offers, create_contact())
    message = opt_in_acknowledge(recorded=recorded, program=offers)
    locmem_sms.fail_next(transient=False, code=21610)
    assert handed_to_the_provider(message).status == "failed"
    assert not ConsentConfirmation.objects.exists()
