"""GET /api/v1/consent/check/: the consent gate's own answer, for partners."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from consent.models import ConsentEvent, Contact
from consent.services import consent_revoke, suppression_add
from tests.factories import create_contact, create_program, opt_in

pytestmark = pytest.mark.django_db

URL = "/api/v1/consent/check/"
PHONE = "+14155552671"


@pytest.fixture
def api(partner_api):
    return partner_api(["consent:read"])


@pytest.fixture
def offers():
    return create_program("offers")


def check(api, **params):
    return api.get(URL, {"phone": PHONE, "program": "offers"} | params)


def test_it_allows_an_opted_in_number(api, offers):
    opt_in(create_contact(PHONE), offers)
    response = check(api, phone="(415) 555-2671")
    assert response.status_code == 200
    assert response.json() == {"phone": PHONE, "allowed": True, "reason": "ok"}


def test_it_gives_the_gates_reason_for_a_refusal(api, offers):
    contact = create_contact(PHONE)
    assert check(api).json()["reason"] == "no_consent"
    opt_in(contact, offers, at=timezone.now() - timedelta(days=2))
    consent_revoke(contact=contact, programs=[offers], method="keyword", source="STOP")
    assert check(api).json() == {"phone": PHONE, "allowed": False, "reason": "opted_out"}
    other = create_contact("+14155550199")
    opt_in(other, offers)
    suppression_add(phone=other.phone, reason="complaint")
    assert check(api, phone=other.phone).json()["reason"] == "suppressed"


def test_it_answers_for_a_message_type(api, offers):
    alerts = create_program("alerts", message_type="transactional")
    opt_in(create_contact(PHONE), alerts)
    assert check(api, program="alerts", message_type="transactional").json()["allowed"] is True
    marketing = check(api, program="alerts", message_type="marketing").json()
    assert marketing["reason"] == "message_type_not_covered"
    assert check(api, message_type="customer_care").json()["allowed"] is True


def test_an_inactive_program_is_an_answer_not_an_error(api, offers):
    offers.active = False
    offers.save()
    response = check(api)
    assert response.status_code == 200
    assert response.json()["reason"] == "program_inactive"


@pytest.mark.parametrize(
    ("params", "code", "field"),
    [
        ({"phone": "12"}, "invalid", "phone"),
        ({"phone": ""}, "invalid", "phone"),
        ({"program": "nope"}, "unknown_program", "program"),
        ({"program": "not a slug"}, "invalid", "program"),
        ({"message_type": "spam"}, "invalid", "message_type"),
    ],
)
def test_it_refuses_bad_input_naming_the_field(api, offers, params, code, field):
    response = check(api, **params)
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert field in response.json()["fields"]


def test_asking_writes_nothing(api, offers):
    check(api, phone="+14155550100")
    assert not Contact.objects.exists()
    assert not ConsentEvent.objects.exists()


def test_it_answers_401_without_a_key(offers):
    assert APIClient().get(URL, {"phone": PHONE, "program": "offers"}).status_code == 401


def test_it_answers_403_without_the_read_scope(partner_api, offers):
    response = check(partner_api(["messages:send"]))
    assert response.status_code == 403
    assert response.json()["code"] == "missing_scope"
