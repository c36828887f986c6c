"""A NUL byte in a header or a field of the public pages is stored replaced or refused as a
field error; never a 500 (PostgreSQL cannot store NUL in text or JSON)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from consent.forms import started_token
from consent.models import ConsentEvent
from consent.preferences import preferences_token
from tests.factories import create_contact, create_program, create_sender, opt_in

pytestmark = pytest.mark.django_db

NUL_AGENT = "Mozilla/5.0\x00 evil"
STORED_AGENT = "Mozilla/5.0\ufffd evil"


@pytest.fixture
def offers():
    program = create_program("offers")
    create_sender(program)
    return program


def join_data(program, **fields) -> dict:
    return {
        "phone": "(415) 555-2671",
        "consent": "on",
        "disclosure": program.current_disclosure().pk,
        "started": started_token(timezone.now() - timedelta(seconds=30)),
    } | fields


def test_a_nul_in_the_user_agent_is_stored_replaced_on_the_join_form(client, offers):
    url = reverse("consent:join", args=[offers.slug])

    response = client.post(url, join_data(offers), HTTP_USER_AGENT=NUL_AGENT)

    assert response.status_code == 302
    assert ConsentEvent.objects.get().evidence["user_agent"] == STORED_AGENT


def test_a_nul_in_a_join_form_field_is_a_field_error(client, offers):
    url = reverse("consent:join", args=[offers.slug])
    data = join_data(offers, name="Ana\x00", phone="(415) 555-2671\x00")

    response = client.post(url, data, HTTP_USER_AGENT=NUL_AGENT)

    assert response.status_code == 400
    assert "Null characters are not allowed" in response.content.decode()
    assert not ConsentEvent.objects.exists()


def test_a_nul_in_the_user_agent_is_stored_replaced_in_the_preference_centre(client, offers):
    contact = create_contact()
    opt_in(contact, offers)
    url = reverse("consent:preferences", args=[preferences_token(contact)])
    before = ConsentEvent.objects.count()

    saved = client.post(
        url,
        {"action": "save", "programs": [], "frequency": "any", "channel": "sms"},
        HTTP_USER_AGENT=NUL_AGENT,
    )
    stopped = client.post(url, {"action": "stop_all"}, HTTP_USER_AGENT="\x00")

    assert saved.status_code == 302 and stopped.status_code == 302
    turned_off = ConsentEvent.objects.order_by("pk")[before]
    assert turned_off.evidence["user_agent"] == STORED_AGENT
    assert ConsentEvent.objects.order_by("-pk")[0].evidence["user_agent"] == "\ufffd"
