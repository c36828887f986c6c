"""GET /<code> on the link domain (or /l/<code>): a 302 to what we sent, one click stored with its
human or bot label; anything else is a 404 page and stores nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from messaging import links
from messaging.links import Hit, _record_orm, _record_sql, click_record, make_code
from messaging.models import Click, OutboundMessage
from messaging.services import message_queue
from tests.factories import create_contact, create_program, create_sender, hand_off, opt_in

pytestmark = pytest.mark.django_db

DESTINATION = "https://shop.acme.example/boots?size=9"
PHONE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


@pytest.fixture(autouse=True)
def _domains(settings):
    settings.SMS_LINK_DOMAIN = "go.acme.example"
    settings.SMS_ALLOWED_LINK_DOMAINS = ["acme.example"]
    settings.SMS_LINK_MAX_AGE_DAYS = None


@pytest.fixture
def program():
    program = create_program("offers", link_tracking=True)
    create_sender(program)
    return program


@pytest.fixture
def sent(program):
    """A message delivered a minute ago, with one short link to DESTINATION."""
    contact = create_contact()
    opt_in(contact, program)
    message = message_queue(
        contact=contact, program=program, body=f"Acme: {DESTINATION} STOP to opt out", kind="api"
    )
    return hand_off(message, at=timezone.now() - timedelta(minutes=1))


def code_of(message) -> str:
    return message.body.split("https://go.acme.example/")[1].split()[0]


def tap(path: str, *, host: str = "go.acme.example", method: str = "get", **headers):
    headers.setdefault("HTTP_USER_AGENT", PHONE_UA)
    return getattr(Client(), method)(path, HTTP_HOST=host, REMOTE_ADDR="198.51.100.7", **headers)


def test_it_redirects_a_tap_on_the_link_domain_and_stores_the_click(sent):
    response = tap(f"/{code_of(sent)}")

    assert response.status_code == 302
    assert response["Location"] == DESTINATION
    assert response["Cache-Control"] == "no-store"
    click = Click.objects.get()
    assert (click.message_id, click.contact_id, click.link.destination) == (
        sent.pk,
        sent.contact_id,
        DESTINATION,
    )
    assert (click.ip, click.user_agent, click.bot_reason) == ("198.51.100.7", PHONE_UA, "")
    assert 55 <= click.seconds_since_delivery <= 70


def test_it_serves_the_same_link_under_l_on_a_single_host(sent):
    response = tap(f"/l/{code_of(sent)}", host="testserver")
    assert (response.status_code, response["Location"]) == (302, DESTINATION)
    assert Click.objects.count() == 1


def test_it_appends_utm_parameters_when_the_link_asks(program, sent):
    program.link_utm = True
    program.save(update_fields=["link_utm"])
    contact = create_contact()
    opt_in(contact, program)
    message = hand_off(
        message_queue(contact=contact, program=program, body=f"{DESTINATION} x", kind="api")
    )
    response = tap(f"/{code_of(message)}")
    assert response["Location"] == (
        f"{DESTINATION}&utm_source=sms&utm_medium=sms&utm_campaign=offers"
    )


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/favicon.ico",
        "/nonsense",
        "/1z1abcdefabcd",  # well formed, wrong tag
        "/1z1" + "0" * 10,
        "/https://evil.example/",
        "/%2F%2Fevil.example",
    ],
)
def test_it_answers_404_and_stores_nothing_for_a_code_we_did_not_make(sent, path):
    response = tap(path)
    assert response.status_code == 404
    assert b"Link not found" in response.content
    assert "Location" not in response
    assert not Click.objects.exists()


def test_a_forged_code_for_another_message_is_a_404(sent):
    code = code_of(sent)
    message_hex, rest = code.split("z", 1)
    forged = f"{int(message_hex, 16) + 1:x}z{rest}"
    assert tap(f"/{forged}").status_code == 404
    tampered = code[:-1] + ("0" if code[-1] != "0" else "1")
    assert tap(f"/{tampered}").status_code == 404
    assert not Click.objects.exists()


def test_a_signed_code_for_a_link_of_another_program_is_a_404(sent):
    """A valid signature over a pair we never sent together still leads nowhere."""
    other = create_program("alerts", message_type="transactional", link_tracking=True)
    link = links.link_for(other, "https://acme.example/elsewhere")
    assert tap(f"/{make_code(sent.pk, link.pk)}").status_code == 404
    assert not Click.objects.exists()


def test_links_expire_only_when_a_setting_says_so(settings, sent):
    OutboundMessage.objects.filter(pk=sent.pk).update(
        created_at=timezone.now() - timedelta(days=400)
    )
    assert tap(f"/{code_of(sent)}").status_code == 302
    settings.SMS_LINK_MAX_AGE_DAYS = 90
    assert tap(f"/{code_of(sent)}").status_code == 404


@pytest.mark.parametrize(
    ("headers", "method", "reason"),
    [
        ({}, "get", ""),
        (
            {"HTTP_USER_AGENT": "facebookexternalhit/1.1 Facebot Twitterbot/1.0"},
            "get",
            "user_agent",
        ),
        ({"HTTP_USER_AGENT": "WhatsApp/2.23.20.0"}, "get", "user_agent"),
        ({"HTTP_USER_AGENT": "Slackbot-LinkExpanding 1.0"}, "get", "user_agent"),
        ({"HTTP_USER_AGENT": ""}, "get", "user_agent"),
        ({}, "head", "head"),
        ({"HTTP_SEC_PURPOSE": "prefetch;prerender"}, "get", "prefetch"),
        ({"HTTP_PURPOSE": "prefetch"}, "get", "prefetch"),
    ],
)
def test_it_labels_previews_scanners_head_and_prefetch_as_bots(sent, headers, method, reason):
    response = tap(f"/{code_of(sent)}", method=method, **headers)
    assert response.status_code == 302
    assert Click.objects.get().bot_reason == reason


def test_a_tap_within_seconds_of_delivery_is_a_bot(sent):
    OutboundMessage.objects.filter(pk=sent.pk).update(
        delivered_at=timezone.now() - timedelta(seconds=1)
    )
    tap(f"/{code_of(sent)}")
    assert Click.objects.get().bot_reason == "too_soon"


def test_repeated_rapid_hits_are_bots_after_the_first(settings, sent):
    for _ in range(3):
        tap(f"/{code_of(sent)}")
    assert list(Click.objects.order_by("id").values_list("bot_reason", flat=True)) == [
        "",
        "repeated",
        "repeated",
    ]
    settings.SMS_LINK_REPEAT_SECONDS = 0
    tap(f"/{code_of(sent)}")
    assert Click.objects.order_by("-id").first().bot_reason == ""


@pytest.mark.postgres
@pytest.mark.parametrize("delivered_ago", [1, 60])
@pytest.mark.parametrize("bot_reason", ["", "head"])
def test_the_one_statement_and_the_orm_record_the_same_click(sent, delivered_ago, bot_reason):
    OutboundMessage.objects.filter(pk=sent.pk).update(
        delivered_at=timezone.now() - timedelta(seconds=delivered_ago)
    )
    message_id, link_id = links.parse_code(code_of(sent))
    at = timezone.now()
    fields = ["link_id", "message_id", "contact_id", "campaign_id", "variant_id", "flow_id",
              "clicked_at", "seconds_since_delivery", "ip", "user_agent", "bot_reason"]  # fmt: skip
    results = []
    for record in (_record_sql, _record_orm):
        Click.objects.all().delete()
        hit = Hit(message_id, link_id, at, "198.51.100.7", PHONE_UA, bot_reason)
        redirect = click_record(hit, record=record)
        stored = Click.objects.values(*fields).get()
        assert {f: getattr(redirect.click, f) for f in fields} == stored
        results.append((redirect.destination, stored))
    assert results[0] == results[1]
