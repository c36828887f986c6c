"""POST /api/v1/contacts/ upserts by phone; GET /api/v1/contacts/{phone}/ reads one contact."""

import json
from urllib.parse import quote

import pytest
from rest_framework.test import APIClient

from consent.models import ConsentEvent, Contact, Tag
from consent.services import contact_erase
from tests.factories import create_contact, create_program, opt_in

pytestmark = pytest.mark.django_db

URL = "/api/v1/contacts/"
PHONE = "+14155552671"


def detail(phone: str) -> str:
    return f"{URL}{quote(phone)}/"


@pytest.fixture
def api(partner_api):
    return partner_api(["consent:read", "consent:write"])


def test_it_creates_a_contact_with_201(api):
    response = api.post(
        URL,
        {
            "phone": "415.555.2671",
            "first_name": "Dana",
            "last_name": "Lee",
            "email": "dana@example.com",
            "locale": "es",
            "time_zone": "America/Los_Angeles",
            "state": "ca",
            "postal_code": "94103",
            "attributes": {"crm_id": "C-1009"},
            "tags": ["vip", "newsletter"],
        },
        format="json",
    )

    assert response.status_code == 201
    data = response.json()
    assert data | {"created_at": None, "updated_at": None} == {
        "phone": PHONE,
        "first_name": "Dana",
        "last_name": "Lee",
        "email": "dana@example.com",
        "locale": "es",
        "time_zone": "America/Los_Angeles",
        "state": "CA",
        "postal_code": "94103",
        "attributes": {"crm_id": "C-1009"},
        "tags": ["newsletter", "vip"],
        "created_at": None,
        "updated_at": None,
    }
    contact = Contact.objects.get()
    assert contact.phone == PHONE
    assert sorted(contact.tags.values_list("name", flat=True)) == ["newsletter", "vip"]
    assert not ConsentEvent.objects.exists()  # a contact is not consent


def test_it_updates_the_existing_contact_with_200_leaving_other_fields(api):
    contact = create_contact(PHONE, first_name="Dana", last_name="Lee", postal_code="94103")
    contact.tags.add(Tag.objects.create(name="old"))

    response = api.post(
        URL, {"phone": "+1 (415) 555-2671", "last_name": "Lee-Park", "tags": ["vip"]}, format="json"
    )

    assert response.status_code == 200
    contact.refresh_from_db()
    assert (contact.first_name, contact.last_name, contact.postal_code) == (
        "Dana",
        "Lee-Park",
        "94103",
    )
    assert list(contact.tags.values_list("name", flat=True)) == ["vip"]
    assert Contact.objects.count() == 1


def test_it_reads_a_contact_by_number_in_any_format(api):
    contact = create_contact(PHONE, first_name="Dana")
    contact.tags.add(Tag.objects.create(name="vip"))
    response = api.get(detail("(415) 555-2671"))
    assert response.status_code == 200
    assert response.json()["phone"] == PHONE
    assert response.json()["first_name"] == "Dana"
    assert response.json()["tags"] == ["vip"]


def test_an_unknown_number_is_404_and_an_invalid_one_400(api):
    missing = api.get(detail("+14155550123"))
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"
    invalid = api.get(detail("12"))
    assert invalid.status_code == 400
    assert invalid.json()["code"] == "invalid_phone"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"phone": "not a phone"}, "phone"),
        ({"phone": None}, "phone"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"email": "dana@"}, "email"),
        ({"state": "California"}, "state"),
        ({"state": "C1"}, "state"),
        ({"postal_code": "9" * 11}, "postal_code"),
        ({"attributes": ["not", "a", "dict"]}, "attributes"),
        ({"attributes": {"note": "nul \x00 inside"}}, "attributes"),
        ({"attributes": {"note": "lone \ud800 surrogate"}}, "attributes"),
        ({"tags": ["not a slug"]}, "tags.0"),
        ({"first_name": "x" * 101}, "first_name"),
    ],
)
def test_it_refuses_bad_input_naming_the_field_and_writes_nothing(api, changes, field):
    contact = create_contact(PHONE, first_name="Dana")
    data = {"phone": PHONE, "first_name": "Dana B"} | changes
    payload = json.dumps({k: v for k, v in data.items() if v is not None})  # \uXXXX escapes
    response = api.post(URL, payload, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert field in response.json()["fields"]
    contact.refresh_from_db()
    assert contact.first_name == "Dana"
    assert Contact.objects.count() == 1


def test_an_erased_contact_is_never_resurrected(api):
    contact = create_contact(PHONE, first_name="Dana")
    opt_in(contact, create_program())
    contact_erase(contact=contact)

    response = api.post(URL, {"phone": PHONE, "first_name": "Dana"}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "erased"
    assert list(response.json()["fields"]) == ["phone"]
    assert not Contact.objects.filter(phone=PHONE).exists()
    assert api.get(detail(PHONE)).status_code == 404


def test_a_repeat_with_the_same_idempotency_key_answers_the_first_time_answer(api):
    data = {"phone": PHONE, "first_name": "Dana"}
    first = api.post(URL, data, format="json", HTTP_IDEMPOTENCY_KEY="sync-1")
    again = api.post(URL, data, format="json", HTTP_IDEMPOTENCY_KEY="sync-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert Contact.objects.count() == 1


def test_it_answers_401_without_a_key():
    assert APIClient().post(URL, {"phone": PHONE}, format="json").status_code == 401
    assert APIClient().get(detail(PHONE)).status_code == 401
    assert not Contact.objects.exists()


def test_writing_needs_consent_write_and_reading_consent_read(partner_api):
    create_contact(PHONE)
    reader, writer = partner_api(["consent:read"]), partner_api(["consent:write"])
    refused = reader.post(URL, {"phone": PHONE, "first_name": "X"}, format="json")
    assert refused.status_code == 403
    assert refused.json()["code"] == "missing_scope"
    assert writer.get(detail(PHONE)).status_code == 403
    assert Contact.objects.get().first_name == ""
