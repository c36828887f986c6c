"""The conversation page in real Chromium: a support agent can read, and reply, at every width."""

import pytest
from playwright.sync_api import expect

from messaging.inbound import inbound_receive
from messaging.models import Conversation, OutboundMessage
from tests.a11y import DJANGO_ADMIN_KNOWN, axe_violations
from tests.conftest import admin_login
from tests.factories import create_contact, create_program, create_sender, opt_in, support_agent

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture
def conversation(no_quiet_hours) -> Conversation:
    program = create_program("offers")
    sender = create_sender(program)
    contact = create_contact(first_name="Ada")
    opt_in(contact, program)
    inbound_receive(
        params={
            "MessageSid": "SM" + "1" * 32,
            "From": contact.phone,
            "To": sender.phone_number,
            "Body": "Is my order ready? I need to know about the delivery tomorrow",
        }
    )
    return Conversation.objects.get()


@pytest.mark.parametrize("width", [1280, 1400, 1920])
def test_it_shows_a_usable_reply_box_beside_nothing_at_every_width(
    browser_page, live_server, conversation, width
):
    browser_page.set_viewport_size({"width": width, "height": 900})
    admin_login(browser_page, live_server, support_agent().username)
    browser_page.goto(f"{live_server.url}/admin/messaging/conversation/{conversation.pk}/change/")
    box = browser_page.locator("#conversation-reply textarea")
    expect(box).to_be_visible()
    bounds = box.bounding_box()
    assert bounds is not None
    assert bounds["x"] >= 0 and bounds["x"] + bounds["width"] <= width, bounds
    assert bounds["width"] >= 400, bounds  # a line of text fits, not a 30 px sliver
    history = browser_page.locator("#conversation-history").bounding_box()
    assert bounds["y"] > history["y"], "the reply box comes below the history"


def test_it_posts_a_reply_typed_into_the_box(browser_page, live_server, conversation):
    admin_login(browser_page, live_server, support_agent().username)
    browser_page.goto(f"{live_server.url}/admin/messaging/conversation/{conversation.pk}/change/")
    browser_page.get_by_role("textbox", name="Reply").fill("It ships tomorrow morning.")
    browser_page.get_by_role("button", name="Send reply").click()
    expect(browser_page.locator(".messagelist")).to_contain_text("Reply queued")
    expect(browser_page.locator("#conversation-history")).to_contain_text("It ships tomorrow")
    reply = OutboundMessage.objects.get(kind="agent_reply")
    assert reply.body == "It ships tomorrow morning."
    assert axe_violations(browser_page, known=DJANGO_ADMIN_KNOWN) == []
