"""A tap on a short link in a phone's browser: the destination, or a plain page saying the link
does not work (nothing else)."""

from __future__ import annotations

import pytest

from messaging.models import Click
from messaging.services import message_queue
from tests.a11y import axe_violations
from tests.factories import create_contact, create_program, create_sender, hand_off, opt_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

PHONE = {"width": 390, "height": 844}


def test_a_tap_lands_on_the_destination_and_a_bad_link_reads_clearly(
    browser_page, live_server, settings
):
    settings.SMS_ALLOWED_LINK_DOMAINS = ["acme.example"]
    settings.SMS_LINK_DOMAIN = "go.acme.example"
    program = create_program("offers", link_tracking=True)
    create_sender(program)
    contact = create_contact()
    opt_in(contact, program)
    # The destination is the live server's own join page, standing in for the shop.
    destination = f"{live_server.url}/join/offers/"
    settings.SMS_ALLOWED_LINK_DOMAINS = ["localhost", "127.0.0.1"]
    message = message_queue(
        contact=contact, program=program, body=f"Acme: {destination}", kind="api"
    )
    code = hand_off(message).body.split("https://go.acme.example/")[1]
    page = browser_page
    page.set_viewport_size(PHONE)

    page.goto(f"{live_server.url}/l/{code}")
    assert page.url == destination
    assert Click.objects.get().message_id == message.pk

    forged = code[:-1] + ("1" if code.endswith("0") else "0")
    response = page.goto(f"{live_server.url}/l/{forged}")
    assert response.status == 404
    assert page.get_by_role("heading", name="Link not found").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert axe_violations(page) == []
    assert Click.objects.count() == 1
