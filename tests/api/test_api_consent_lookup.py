"""GET /api/v1/consent/{phone}/: consent per program, for a number in any format."""

from datetime import timedelta
from urllib.parse import quote

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from consent.services import consent_confirm, consent_revoke, contact_erase
from tests.factories import create_contact, create_program, opt_in

pytestmark = pytest.mark.django_db

PHONE = "+14155552671"


def url(phone: str) -> str:
    return f"/api/v1/consent/{quote(phone)}/"


@pytest.fixture
def api(partner_api):
    return partner_api(["consent:read"])


def test_it_answers_each_program_with_how_consent_was_given(api):
    offers, alerts = create_program("offers"), create_program("alerts", double_opt_in=True)
    create_program("unrelated")
    contact = create_contact(PHONE)
    joined = timezone.now() - timedelta(days=10)
    opt_in(contact, offers, at=joined, method="web_form", source="https://acme.example/join")
    left = timezone.now() - timedelta(days=2)
    consent_revoke(
        contact=contact, programs=[offers], method="keyword", source="STOP", occurred_at=left
    )
    opt_in(contact, alerts, at=joined, confirmed=False, method="keyword", source="JOIN to 12345")
    confirmed = timezone.now() - timedelta(days=9)
    consent_confirm(
        contact=contact,
        program=alerts,
        method="keyword",
        source="YES to 12345",
        occurred_at=confirmed,
    )

    response = api.get(url("(415) 555-2671"))

    assert response.status_code == 200
    data = response.json()
    assert data["phone"] == PHONE
    assert data["suppressed"] is False
    alerts_row, offers_row = data["programs"]
    assert offers_row == {
        "program": "offers",
        "status": "opted_out",
        "since": left.isoformat().replace("+00:00", "Z"),
        "method": "web_form",
        "source": "https://acme.example/join",
        "disclosure_version": 1,
        "opted_in_at": joined.isoformat().replace("+00:00", "Z"),
        "opted_out_at": left.isoformat().replace("+00:00", "Z"),
    }
    assert alerts_row["program"] == "alerts"
    assert alerts_row["status"] == "opted_in"
    assert alerts_row["source"] == "YES to 12345"
    assert alerts_row["opted_out_at"] is None


def test_a_number_never_seen_has_no_consent_rather_than_a_404(api):
    response = api.get(url("415 555 0123"))
    assert response.status_code == 200
    assert response.json() == {"phone": "+14155550123", "suppressed": False, "programs": []}


def test_an_erased_number_shows_no_record_but_its_suppression(api):
    program = create_program("offers")
    contact = create_contact(PHONE)
    opt_in(contact, program)
    contact_erase(contact=contact)
    response = api.get(url(PHONE))
    assert response.json() == {"phone": PHONE, "suppressed": True, "programs": []}


@pytest.mark.parametrize("phone", ["555", "not a number", "+1 415 555 2671 x12"])
def test_it_refuses_an_invalid_number_with_400(api, phone):
    response = api.get(url(phone))
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_phone"
    assert list(response.json()["fields"]) == ["phone"]


def test_it_answers_401_without_a_key():
    assert APIClient().get(url(PHONE)).status_code == 401


def test_it_answers_403_without_the_read_scope(partner_api):
    response = partner_api(["consent:write"]).get(url(PHONE))
    assert response.status_code == 403
    assert response.json()["code"] == "missing_scope"
