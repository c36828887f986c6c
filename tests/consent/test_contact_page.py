"""The contact page tells support the most important fact first (a suppression) and shows one
history: the ledger, messages sent and received with the gate's decision, conversations."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from consent.models import Suppression
from messaging import conversations
from messaging.inbound import inbound_receive
from messaging.models import Conversation, OutboundMessage
from tests.factories import (
    create_contact,
    create_program,
    create_sender,
    opt_in,
    support_agent,
)

pytestmark = pytest.mark.django_db

_sids = iter(range(10**6))


def text_in(contact, sender, body: str) -> None:
    sid = f"SM{next(_sids):032d}"
    inbound_receive(
        params={"MessageSid": sid, "From": contact.phone, "To": sender.phone_number, "Body": body}
    )


@pytest.fixture
def offers():
    return create_program("offers", name="Acme Offers")


@pytest.fixture
def reminders():
    return create_program("reminders", name="Appointment reminders")


@pytest.fixture
def sender(offers, reminders):
    sender = create_sender(offers, name="Acme line")
    sender.programs.add(reminders)
    return sender


@pytest.fixture
def agent(client):
    user = support_agent()
    client.force_login(user)
    return user


@pytest.fixture
def stopped_all(offers, sender, agent):
    """Rosa joined offers only, asked a question, then texted STOPALL; the agent's reply was
    blocked by the gate."""
    rosa = create_contact(first_name="Rosa")
    opt_in(rosa, offers)
    text_in(rosa, sender, "Is my order ready?")
    text_in(rosa, sender, "STOPALL")
    conversation = Conversation.objects.get(contact=rosa)
    conversations.conversation_reply(conversation=conversation, body="Sorry!", by=agent)
    return rosa


def page(client, contact) -> str:
    response = client.get(reverse("admin:consent_contact_change", args=[contact.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_it_shows_a_suppression_for_all_programs_first(client, stopped_all):
    assert Suppression.objects.filter(phone=stopped_all.phone, program=None).exists()
    html = page(client, stopped_all)
    panel = html.index('id="contact-suppressions"')
    assert panel < html.index('id="consent-at-a-glance"')
    assert "Suppressed: no message is sent to this number" in html
    assert "All programs" in html
    # The program Rosa never joined says she is suppressed, not only "Never opted in".
    row = html[html.index("Appointment reminders", panel) :]
    row = row[: row.index("</tr>")]
    assert "Suppressed" in row and "for all programs" in row


def test_it_shows_one_timeline_of_ledger_messages_and_conversations(client, stopped_all):
    html = page(client, stopped_all)
    timeline = html[html.index('id="contact-timeline"') :]
    assert "Opt-out · Acme Offers" in timeline  # the ledger
    assert "Is my order ready?" in timeline and "STOPALL" in timeline  # received
    assert "Conversation with Acme line" in timeline
    blocked = OutboundMessage.objects.get(kind="agent_reply")
    assert blocked.status == "blocked"
    assert "Sorry!" in timeline and "Blocked by the consent gate" in timeline  # the decision


def test_it_bounds_the_timeline_and_links_to_the_rest(client, stopped_all, sender):
    from messaging.timeline import TIMELINE_LIMIT

    for n in range(TIMELINE_LIMIT + 2):
        text_in(stopped_all, sender, f"message {n}")
    html = page(client, stopped_all)
    assert "message 0<" not in html  # the oldest is left to the full list
    assert f"message {TIMELINE_LIMIT + 1}" in html
    assert "all messages received" in html


def test_it_reads_the_timeline_in_the_same_number_of_queries_however_long(
    client, stopped_all, sender
):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            page(client, stopped_all)
        return len(captured)

    before = queries()
    for n in range(8):
        text_in(stopped_all, sender, f"again {n}")
    assert queries() == before


def test_it_says_suppressed_for_a_program_the_person_never_joined(client, agent, offers):
    from consent import services

    ada = create_contact(first_name="Ada")
    services.suppression_add(phone=ada.phone, reason="complaint", evidence={"ticket": "T-12"})
    html = page(client, ada)
    row = html[html.index("Acme Offers", html.index('id="consent-at-a-glance"')) :]
    row = row[: row.index("</tr>")]
    assert "Suppressed" in row and "Never opted in" not in row
    assert "ticket: T-12" in html  # the evidence, in the suppression panel


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_contact_page_reads_clearly_in_a_browser(
    browser_page, live_server, stopped_all, tmp_path
):
    from playwright.sync_api import expect

    from tests.a11y import DJANGO_ADMIN_KNOWN, axe_violations
    from tests.conftest import admin_login

    admin_login(browser_page, live_server, "sam_support")
    browser_page.goto(f"{live_server.url}/admin/consent/contact/{stopped_all.pk}/change/")
    expect(browser_page.locator("#contact-suppressions h2")).to_contain_text("Suppressed")
    expect(browser_page.locator("#contact-timeline")).to_contain_text("Blocked by the consent gate")
    browser_page.screenshot(path=str(tmp_path / "contact.png"), full_page=True)
    assert axe_violations(browser_page, known=DJANGO_ADMIN_KNOWN) == []
