"""The contact page's per-program summary names the opt-in, never a later preference change."""

import pytest
from django.test import RequestFactory

from config.pages.views import client_ip
from consent.preferences import consent_preferences_set
from consent.selectors import consent_overview
from tests.factories import create_contact, create_program, opt_in

pytestmark = pytest.mark.django_db


def test_it_shows_the_opt_in_after_a_preference_change():
    program = create_program("offers")
    contact = create_contact()
    event = opt_in(contact, program)
    consent_preferences_set(
        contact=contact,
        programs_on={program.pk},
        programs_off=set(),
        frequency="weekly",
        channel="sms",
        evidence={"ip": "203.0.113.9"},
        source="preference centre",
    )
    assert contact.consent_events.filter(kind="preference").count() == 1
    (row,) = consent_overview(contact)
    assert row["opt_in"].pk == event.pk
    assert row["state"].status == "opted_in"


def test_it_takes_the_address_our_proxy_saw_not_one_the_client_wrote(settings):
    request = RequestFactory().get(
        "/join/x/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.4"
    )
    settings.TRUST_X_FORWARDED_FOR = False
    assert client_ip(request) == "10.0.0.2"
    settings.TRUST_X_FORWARDED_FOR = True
    assert client_ip(request) == "198.51.100.4"
