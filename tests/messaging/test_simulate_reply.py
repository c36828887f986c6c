"""The "simulate a reply" box: a text typed by staff goes through the real inbound path."""

from tempfile import gettempdir

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from config.lib.process_cache import clear_all as clear_process_caches
from consent.models import ConsentEvent, ConsentState
from messaging.models import Conversation, InboundMessage, OutboundMessage
from messaging.simulate import SimulationError, inbound_simulate
from messaging.tasks import dispatch
from tests.a11y import axe_violations
from tests.conftest import admin_login
from tests.factories import (
    create_contact,
    create_program,
    create_sender,
    marketer,
    opt_in,
    support_agent,
)

SIMULATE = "/admin/messaging/inboundmessage/simulate/"


@pytest.fixture
def setup(db, settings):
    settings.SMS_BACKEND = "console"
    settings.DEBUG = False
    settings.SMS_AFTER_HOURS_REPLY = ""
    clear_process_caches()
    program = create_program("offers")
    # We answer keywords on this sender (the provider would answer them on a default toll-free
    # number, and a simulation has no provider to do so).
    sender = create_sender(program, phone_number="+18335550142", keyword_replies="us")
    contact = create_contact(first_name="Ada")
    opt_in(contact, program)
    yield program, sender, contact
    clear_process_caches()


def _post(client, contact, body, **extra):
    data = {"contact": contact.pk, "body": body, "next": "/admin/"} | extra
    return client.post(SIMULATE, data)


@pytest.mark.django_db
def test_it_revokes_consent_through_the_inbound_path_when_staff_texts_stop(client, setup):
    program, sender, contact = setup
    client.force_login(support_agent())
    response = _post(client, contact, "STOP")
    assert response.status_code == 302
    inbound = InboundMessage.objects.get()
    assert inbound.provider_sid.startswith("SMsimulated")
    assert inbound.raw["Simulated"] == "by sam_support"
    assert (inbound.from_number, inbound.to_number, inbound.intent) == (
        contact.phone,
        sender.phone_number,
        "opt_out",
    )
    assert ConsentState.objects.get(contact=contact, program=program).status == "opted_out"
    revocation = ConsentEvent.objects.filter(contact=contact, kind="opt_out").get()
    assert revocation.evidence["message_sid"] == inbound.provider_sid
    reply = OutboundMessage.objects.get(kind="auto_reply")
    assert reply.body == program.opt_out_confirmation_text
    # The confirmation counts once the provider accepted the reply: after dispatch hands it over.
    dispatch()
    revocation.refresh_from_db()
    assert str(reply.pk) in revocation.confirmation.message_ref


@pytest.mark.django_db
def test_it_answers_help_and_opens_a_conversation_for_a_question(client, setup):
    program, sender, contact = setup
    client.force_login(support_agent())
    _post(client, contact, "HELP")
    assert OutboundMessage.objects.get(kind="auto_reply").body == program.help_text
    _post(client, contact, "Is the tent in stock?")
    conversation = Conversation.objects.get()
    assert (conversation.contact, conversation.sender) == (contact, sender)
    assert InboundMessage.objects.filter(conversation=conversation).count() == 1


@pytest.mark.django_db
def test_it_refuses_when_messages_really_leave(client, setup, settings):
    _, _, contact = setup
    settings.SMS_BACKEND = "twilio"
    client.force_login(support_agent())
    assert _post(client, contact, "STOP").status_code == 403
    with pytest.raises(SimulationError):
        inbound_simulate(contact=contact, body="STOP", by=None)
    assert not InboundMessage.objects.exists()


@pytest.mark.django_db
def test_it_refuses_staff_without_the_conversation_permission(client, setup):
    _, _, contact = setup
    client.force_login(marketer())
    assert _post(client, contact, "STOP").status_code == 403
    assert not InboundMessage.objects.exists()
    page = client.get(reverse("admin:consent_contact_change", args=[contact.pk]))
    assert b'id="simulate-reply"' not in page.content


@pytest.mark.django_db
def test_it_says_what_is_wrong_with_an_empty_text(client, setup):
    _, _, contact = setup
    client.force_login(support_agent())
    response = _post(client, contact, "   ")
    assert response.status_code == 302
    assert not InboundMessage.objects.exists()
    messages = [str(m) for m in response.wsgi_request._messages]
    assert messages == ["Type the text the person sends."]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_newcomer_texts_stop_then_start_from_the_contact_page(browser_page, live_server, setup):
    program, _, contact = setup
    agent = support_agent()
    admin_login(browser_page, live_server, agent.username)
    browser_page.goto(f"{live_server.url}/admin/consent/contact/{contact.pk}/change/")
    box = browser_page.locator("#simulate-reply")
    expect(box).to_be_visible()
    box.get_by_label("Text from the person").fill("STOP")
    box.get_by_role("button", name="Receive this text").click()
    expect(browser_page.locator(".messagelist")).to_contain_text("Reply:")
    expect(browser_page.locator(".messagelist")).to_contain_text(program.opt_out_confirmation_text)
    assert ConsentState.objects.get(contact=contact, program=program).status == "opted_out"
    browser_page.screenshot(path=f"{gettempdir()}/t13f-simulate-contact.png", full_page=True)
    assert axe_violations(browser_page, include="#simulate-reply") == []

    browser_page.locator("#simulate-reply").get_by_label("Text from the person").fill("START")
    browser_page.get_by_role("button", name="Receive this text").click()
    expect(browser_page.locator(".messagelist")).to_contain_text("read as opt-in")
    assert ConsentState.objects.get(contact=contact, program=program).status == "opted_in"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_agent_simulates_a_question_on_the_conversation_page(browser_page, live_server, setup):
    _, sender, contact = setup
    inbound_simulate(contact=contact, body="Hello?", by=None)
    conversation = Conversation.objects.get()
    admin_login(browser_page, live_server, support_agent().username)
    browser_page.goto(f"{live_server.url}/admin/messaging/conversation/{conversation.pk}/change/")
    box = browser_page.locator("#simulate-reply")
    expect(box).to_contain_text(sender.phone_number)
    box.get_by_label("Text from the person").fill("Do you deliver on Sunday?")
    box.get_by_role("button", name="Receive this text").click()
    expect(browser_page.locator("#conversation-history")).to_contain_text(
        "Do you deliver on Sunday?"
    )
    browser_page.screenshot(path=f"{gettempdir()}/t13f-simulate-conv.png", full_page=True)
    assert axe_violations(browser_page, include="#simulate-reply") == []
