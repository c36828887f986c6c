"""The hosted opt-in form: a clear call to action, an unchecked box, and a complete record."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from consent.forms import started_token
from consent.models import (
    ConsentConfirmation,
    ConsentEvent,
    ConsentState,
    Contact,
    Disclosure,
    MessageType,
)
from messaging.models import OutboundMessage
from tests.factories import create_contact, create_program, create_sender, opt_in

pytestmark = pytest.mark.django_db

UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148"


@pytest.fixture
def offers():
    program = create_program("offers")
    create_sender(program)
    return program


def url(program) -> str:
    return reverse("consent:join", args=[program.slug])


def submit(client, program, **fields):
    data = {
        "phone": "(415) 555-2671",
        "name": "Ana María López",
        "consent": "on",
        "disclosure": program.current_disclosure().pk,
        # What the page rendered when the person opened it, half a minute before.
        "started": started_token(timezone.now() - timedelta(seconds=30)),
    } | fields
    data = {k: v for k, v in data.items() if v is not None}
    return client.post(url(program), data, HTTP_USER_AGENT=UA, REMOTE_ADDR="203.0.113.9")


def test_it_shows_the_disclosure_verbatim_next_to_an_unchecked_box(client, offers):
    response = client.get(url(offers))
    html = response.content.decode()
    assert response.status_code == 200
    assert '<html lang="en">' in html
    assert escape(offers.current_disclosure().text) in html
    assert "Reply HELP for help, STOP to cancel." in html
    assert "Consent is not a condition of purchase." in html
    # Each line once: the disclosure already says the rates and the purchase line.
    assert html.count("data rates may apply") == 1
    assert html.count("not a condition of purchase") == 1
    checkbox = html[html.index('name="consent"') :].split(">", 1)[0]
    assert "checked" not in checkbox.replace("unchecked", "")
    assert f'name="disclosure" value="{offers.current_disclosure().pk}"' in html
    assert 'name="csrfmiddlewaretoken"' in html


def test_it_leaves_out_the_purchase_line_for_an_informational_program(client):
    program = create_program("reminders", message_type=MessageType.TRANSACTIONAL)
    html = client.get(url(program)).content.decode()
    assert 'id="condition-text"' not in html
    deals = create_program("deals")
    Disclosure.objects.create(
        program=deals,
        version=2,
        text="Yes, text me Deals offers. Privacy: acme.example/privacy",
        effective_at=timezone.now() - timezone.timedelta(days=1),
    )
    html = client.get(url(deals)).content.decode()
    assert 'id="condition-text"' in html  # the disclosure does not say it, so the page does
    assert "Msg &amp; data rates may apply." in html
    assert '<a href="https://acme.example/privacy">acme.example/privacy</a>' in html


def test_it_records_the_opt_in_with_ip_user_agent_page_and_disclosure_version(client, offers):
    response = submit(client, offers)
    assert response.status_code == 302
    assert response["Location"] == reverse("consent:join_done", args=["offers"])
    event = ConsentEvent.objects.get()
    assert (event.phone, event.kind, event.method) == ("+14155552671", "opt_in", "web_form")
    assert event.source == "http://testserver/join/offers/"
    assert event.disclosure == offers.current_disclosure()
    assert event.disclosure_hash == event.disclosure.text_hash
    assert event.evidence["ip"] == "203.0.113.9"
    assert event.evidence["user_agent"] == UA
    assert event.evidence["page_url"] == "http://testserver/join/offers/"
    assert event.evidence["disclosure_version"] == 1
    assert event.evidence["phone_as_typed"] == "(415) 555-2671"
    submitted = timezone.datetime.fromisoformat(event.evidence["submitted_at"])
    assert abs((timezone.now() - submitted).total_seconds()) < 60
    contact = event.contact
    assert (contact.first_name, contact.last_name) == ("Ana", "María López")
    assert ConsentState.objects.get(contact=contact, program=offers).status == "opted_in"
    confirmation = OutboundMessage.objects.get(contact=contact)
    assert confirmation.body == offers.opt_in_confirmation_text
    assert "You're in" in client.get(response["Location"]).content.decode()


def test_it_refuses_an_unchecked_box_and_records_nothing(client, offers):
    response = submit(client, offers, consent=None)
    assert response.status_code == 400
    assert "Tick the box to agree" in response.content.decode()
    assert not ConsentEvent.objects.exists()
    assert not Contact.objects.exists()


def test_it_shows_a_bad_phone_next_to_the_field_and_records_nothing(client, offers):
    response = submit(client, offers, phone="555-12")
    html = response.content.decode()
    assert response.status_code == 400
    assert 'id="phone-error"' in html
    assert "“555-12” is not a valid phone number" in html
    assert 'aria-invalid="true"' in html
    assert 'value="555-12"' in html
    assert not ConsentEvent.objects.exists()
    assert not Contact.objects.exists()
    assert not OutboundMessage.objects.exists()


def test_it_keeps_a_double_opt_in_pending_and_queues_the_yes_request(client):
    program = create_program("deals", double_opt_in=True)
    create_sender(program)
    response = submit(client, program)
    assert response["Location"].endswith("/join/deals/thanks/?pending=1")
    event = ConsentEvent.objects.get()
    assert event.resulting_status == "pending"
    request = OutboundMessage.objects.get(contact=event.contact)
    assert request.body == program.double_opt_in_request_text
    assert request.status == "queued"
    assert not ConsentConfirmation.objects.exists()  # recorded once the provider accepts it
    assert "Reply YES" in client.get(response["Location"]).content.decode()


def test_it_refuses_a_disclosure_that_changed_while_the_page_was_open(client, offers):
    shown = offers.current_disclosure()
    Disclosure.objects.create(program=offers, version=2, text="New terms. Reply STOP to cancel.")
    response = submit(client, offers, disclosure=shown.pk)
    html = response.content.decode()
    assert response.status_code == 400
    assert "The terms on this page have changed" in html
    assert "New terms. Reply STOP to cancel." in html
    assert not ConsentEvent.objects.exists()


def test_it_answers_404_for_an_unknown_or_inactive_program(client, offers):
    assert client.get("/join/nothing-here/").status_code == 404
    offers.active = False
    offers.save(update_fields=["active"])
    assert client.get(url(offers)).status_code == 404
    assert submit(client, offers).status_code == 404
    assert not ConsentEvent.objects.exists()


def test_it_needs_the_csrf_token(offers):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    assert submit(strict, offers).status_code == 403
    assert not ConsentEvent.objects.exists()


def test_it_keeps_an_existing_contacts_name(client, offers):
    contact = create_contact(phone="+14155552671", first_name="Ann")
    submit(client, offers, name="Someone Else")
    contact.refresh_from_db()
    assert contact.first_name == "Ann"
    assert ConsentEvent.objects.get().contact == contact


def test_it_brakes_a_flood_of_sign_ups_from_one_address(client, offers, settings):
    settings.JOIN_FORM_RATE_PER_HOUR = 2
    assert submit(client, offers, phone="+14155552671").status_code == 302
    assert submit(client, offers, phone="+14155552672").status_code == 302
    response = submit(client, offers, phone="+14155552673")
    assert response.status_code == 429
    assert ConsentEvent.objects.count() == 2


def test_a_repeat_sign_up_of_a_subscriber_stays_opted_in(client, offers):
    contact = create_contact(phone="+14155552671")
    opt_in(contact, offers)
    assert submit(client, offers).status_code == 302
    assert ConsentState.objects.get(contact=contact, program=offers).status == "opted_in"
