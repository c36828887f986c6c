"""The join form cannot be used to text strangers: per-number and hourly limits on confirmation
texts, a honeypot field and a minimum time to submit. Refusals are pages a person understands
and never leave a ledger event or a message behind."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import signing
from django.urls import reverse
from django.utils import timezone

from consent.forms import RETRY_MESSAGE, STARTED_SALT, started_token
from consent.models import ConsentEvent
from messaging.models import OutboundMessage
from tests.factories import create_program, create_sender

pytestmark = pytest.mark.django_db

UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148"


@pytest.fixture
def offers():
    program = create_program("offers")
    create_sender(program)
    return program


def a_while_ago(seconds: float = 30) -> str:
    return started_token(timezone.now() - timedelta(seconds=seconds))


def submit(client, program, *, ip: str = "203.0.113.9", **fields):
    data = {
        "phone": "(415) 555-2671",
        "consent": "on",
        "disclosure": program.current_disclosure().pk,
        "started": a_while_ago(),
        "website": "",
    } | fields
    data = {k: v for k, v in data.items() if v is not None}
    url = reverse("consent:join", args=[program.slug])
    return client.post(url, data, HTTP_USER_AGENT=UA, REMOTE_ADDR=ip)


def assert_nothing_recorded() -> None:
    assert not ConsentEvent.objects.exists()
    assert not OutboundMessage.objects.exists()


# --- honeypot and time to submit ------------------------------------------------------------


def test_it_refuses_a_filled_honeypot_with_a_plain_retry_page(client, offers):
    response = submit(client, offers, website="https://spam.example")

    assert response.status_code == 400
    assert RETRY_MESSAGE in response.content.decode()
    assert 'role="alert"' in response.content.decode()
    assert_nothing_recorded()


@pytest.mark.parametrize(
    "started",
    [
        pytest.param(lambda: started_token(), id="at-once"),
        pytest.param(lambda: a_while_ago(1), id="after-one-second"),
        pytest.param(lambda: None, id="missing"),
        pytest.param(lambda: "1700000000.0", id="unsigned"),
        pytest.param(lambda: signing.dumps(0.0, salt="another.salt"), id="other-salt"),
        pytest.param(lambda: a_while_ago(-60), id="from-the-future"),
    ],
)
def test_it_refuses_a_submission_faster_than_a_person_or_without_a_genuine_start(
    client, offers, started
):
    response = submit(client, offers, started=started())

    assert response.status_code == 400
    assert RETRY_MESSAGE in response.content.decode()
    assert_nothing_recorded()


def test_a_person_who_was_too_quick_succeeds_on_the_second_press(client, offers, settings):
    settings.JOIN_FORM_MIN_SECONDS = 3
    token = a_while_ago(1)

    first = submit(client, offers, started=token)

    # The page keeps the genuine start time, so pressing again later is enough.
    kept = re.search(r'name="started" value="([^"]+)"', first.content.decode()).group(1)
    assert kept == token
    settings.JOIN_FORM_MIN_SECONDS = 0.5  # stands for the seconds the person took
    second = submit(client, offers, started=kept)
    assert second.status_code == 302
    assert ConsentEvent.objects.count() == 1


def test_the_honeypot_is_hidden_from_people_screen_readers_and_the_tab_order(client, offers):
    html = client.get(reverse("consent:join", args=["offers"])).content.decode()

    wrapper = re.search(r'<div class="hp" aria-hidden="true">(.*?)</div>', html, re.S)
    assert wrapper, "the honeypot is wrapped in an aria-hidden, off-screen block"
    field = re.search(r'<input[^>]*name="website"[^>]*>', wrapper.group(1)).group(0)
    assert 'tabindex="-1"' in field and 'autocomplete="off"' in field and 'value=""' in field
    started = re.search(r'name="started" value="([^"]+)"', html).group(1)
    age = timezone.now().timestamp() - signing.loads(started, salt=STARTED_SALT)
    assert 0 <= age < 60


# --- texts per number and per hour ------------------------------------------------------------


def test_it_texts_one_number_at_most_three_times_a_day_whatever_the_address(client, offers):
    for n in range(3):
        assert submit(client, offers, ip=f"198.51.100.{n}").status_code == 302

    refused = submit(client, offers, ip="192.0.2.77")

    assert refused.status_code == 429
    page = refused.content.decode()
    assert "We have already sent 3 texts to this number today" in page
    assert 'role="alert"' in page and 'name="phone"' in page  # still the form, explained
    assert ConsentEvent.objects.count() == 3
    assert OutboundMessage.objects.count() == 3


def test_the_per_number_limit_is_a_setting_and_leaves_other_numbers_alone(client, offers, settings):
    settings.JOIN_FORM_TEXTS_PER_NUMBER_24H = 1
    assert submit(client, offers).status_code == 302

    assert submit(client, offers, ip="192.0.2.1").status_code == 429
    assert submit(client, offers, ip="192.0.2.2", phone="(415) 555-2672").status_code == 302
    assert ConsentEvent.objects.count() == 2


def test_it_stops_all_sign_up_texts_over_the_hourly_ceiling(client, offers, settings):
    settings.JOIN_FORM_TEXTS_PER_HOUR = 2
    for n in range(2):
        response = submit(client, offers, ip=f"198.51.100.{n}", phone=f"(415) 555-267{n}")
        assert response.status_code == 302

    refused = submit(client, offers, ip="192.0.2.9", phone="(415) 555-2679")

    assert refused.status_code == 429
    assert "a lot of sign-ups right now" in refused.content.decode()
    assert ConsentEvent.objects.count() == 2
    assert OutboundMessage.objects.count() == 2
