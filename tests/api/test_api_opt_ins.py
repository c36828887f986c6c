"""POST /api/v1/opt-ins/: an opt-in with its proof is recorded once and acknowledged by text."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from consent.models import ConsentEvent, ConsentState, Contact, Disclosure
from consent.services import consent_revoke, contact_erase
from messaging.models import IdempotencyRecord, MessageStatus, OutboundMessage
from tests.factories import create_contact, create_program, create_sender, opt_in

pytestmark = pytest.mark.django_db

URL = "/api/v1/opt-ins/"
SOURCE = "https://acme.example/join"


def body(**changes) -> dict:
    data = {
        "phone": "(415) 555-2671",
        "program": "offers",
        "method": "web_form",
        "source": SOURCE,
        "occurred_at": (timezone.now() - timedelta(minutes=2)).isoformat(),
        "evidence": {"ip": "203.0.113.7", "user_agent": "Mozilla/5.0", "page_url": SOURCE},
    }
    return {k: v for k, v in (data | changes).items() if v is not None}


@pytest.fixture
def program():
    program = create_program("offers")
    create_sender(program)
    return program


@pytest.fixture
def api(partner_api):
    return partner_api(["consent:write"], name="Shop")


def test_it_records_the_opt_in_and_answers_the_ledger_event(api, program):
    response = api.post(URL, body(), format="json")

    assert response.status_code == 201
    event = ConsentEvent.objects.get()
    disclosure = program.disclosures.get()
    message = OutboundMessage.objects.get()
    assert response.json() == {
        "id": event.pk,
        "phone": "+14155552671",
        "program": "offers",
        "kind": "opt_in",
        "resulting_status": "opted_in",
        "method": "web_form",
        "source": SOURCE,
        "occurred_at": response.json()["occurred_at"],
        "recorded_at": response.json()["recorded_at"],
        "disclosure_version": 1,
        "disclosure_hash": disclosure.text_hash,
        "evidence": {"ip": "203.0.113.7", "user_agent": "Mozilla/5.0", "page_url": SOURCE},
        "confirmation_message_id": message.pk,
    }
    assert event.recorded_by_label == "api:Shop"
    assert event.disclosure == disclosure
    assert ConsentState.objects.get().status == "opted_in"
    assert message.body == program.opt_in_confirmation_text
    assert message.status == MessageStatus.QUEUED
    assert message.to == "+14155552671"


def test_it_records_the_disclosure_version_the_partner_names(api, program):
    Disclosure.objects.create(
        program=program, version=2, text="New wording.", effective_at=timezone.now() - timedelta(1)
    )
    old = body(disclosure_version=1)
    response = api.post(URL, old, format="json")
    assert response.status_code == 201
    assert response.json()["disclosure_version"] == 1
    assert ConsentEvent.objects.get().disclosure.version == 1


def test_it_leaves_a_double_opt_in_pending_and_queues_the_yes_request(api, program):
    program.double_opt_in = True
    program.save()

    response = api.post(URL, body(), format="json")

    assert response.status_code == 201
    assert response.json()["resulting_status"] == "pending"
    assert ConsentState.objects.get().status == "pending"
    message = OutboundMessage.objects.get()
    assert message.body == program.double_opt_in_request_text
    assert message.status == MessageStatus.QUEUED
    assert response.json()["confirmation_message_id"] == message.pk


def test_it_records_a_re_opt_in_after_an_opt_out(api, program):
    contact = create_contact("+14155552671")
    opt_in(contact, program, at=timezone.now() - timedelta(days=9))
    consent_revoke(
        contact=contact,
        programs=[program],
        method="keyword",
        source="STOP",
        occurred_at=timezone.now() - timedelta(days=5),
    )
    response = api.post(URL, body(), format="json")
    assert response.status_code == 201
    assert response.json()["kind"] == "re_opt_in"
    assert ConsentState.objects.get().status == "opted_in"


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"phone": "555-0100-99999"}, "invalid", "phone"),
        ({"phone": "call me"}, "invalid", "phone"),
        ({"phone": None}, "invalid", "phone"),
        ({"program": "nope"}, "unknown_program", "program"),
        ({"program": None}, "invalid", "program"),
        ({"method": "telepathy"}, "invalid", "method"),
        ({"source": None}, "invalid", "source"),
        ({"source": "   "}, "invalid", "source"),
        ({"occurred_at": None}, "invalid", "occurred_at"),
        ({"occurred_at": "2025-01-15T14:30:00"}, "invalid", "occurred_at"),
        ({"occurred_at": "yesterday"}, "invalid", "occurred_at"),
        ({"occurred_at": "2999-01-01T00:00:00Z"}, "future_datetime", "occurred_at"),
        ({"disclosure_version": 7}, "unknown_disclosure_version", "disclosure_version"),
        ({"disclosure_version": 2**70}, "invalid", "disclosure_version"),
        ({"source": "nul \x00 inside"}, "invalid", "source"),
        ({"evidence": {"ip": "not-an-ip"}}, "invalid", "evidence.ip"),
        ({"evidence": {"page_url": "javascript:alert(1)"}}, "invalid", "evidence.page_url"),
    ],
)
def test_it_refuses_bad_input_naming_the_field_and_writes_nothing(
    api, program, changes, code, field
):
    response = api.post(URL, body(**changes), format="json")

    assert response.status_code == 400
    assert response.json()["code"] == code
    assert field in response.json()["fields"]
    assert not ConsentEvent.objects.exists()
    assert not Contact.objects.exists()
    assert not OutboundMessage.objects.exists()
    assert not IdempotencyRecord.objects.exists()


def test_it_refuses_an_inactive_program(api, program):
    program.active = False
    program.save()
    response = api.post(URL, body(), format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "program_inactive"
    assert "program" in response.json()["fields"]
    assert not ConsentEvent.objects.exists()


def test_it_refuses_a_disclosure_that_was_not_yet_in_effect(api, program):
    Disclosure.objects.create(program=program, version=2, text="Later wording.")
    response = api.post(URL, body(disclosure_version=2), format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "disclosure_not_effective"
    assert not ConsentEvent.objects.exists()


def test_it_refuses_a_number_erased_on_request(api, program):
    contact = create_contact("+14155552671", first_name="Dana")
    opt_in(contact, program)
    contact_erase(contact=contact)
    events = ConsentEvent.objects.count()

    response = api.post(URL, body(), format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "erased"
    assert ConsentEvent.objects.count() == events
    assert not Contact.objects.filter(phone="+14155552671").exists()


def test_it_answers_401_without_a_key(program):
    response = APIClient().post(URL, body(), format="json")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert not ConsentEvent.objects.exists()


def test_it_answers_403_without_the_write_scope(partner_api, program):
    response = partner_api(["consent:read"]).post(URL, body(), format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "missing_scope"
    assert not ConsentEvent.objects.exists()


def test_a_repeat_with_the_same_idempotency_key_answers_the_same_and_records_once(api, program):
    data = body()
    first = api.post(URL, data, format="json", HTTP_IDEMPOTENCY_KEY="form-77")
    again = api.post(URL, data, format="json", HTTP_IDEMPOTENCY_KEY="form-77")

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert ConsentEvent.objects.count() == 1
    assert OutboundMessage.objects.count() == 1


def test_the_key_also_guards_the_ledger_after_the_stored_answer_is_gone(api, program):
    data = body()
    first = api.post(URL, data, format="json", HTTP_IDEMPOTENCY_KEY="form-78")
    IdempotencyRecord.objects.all().delete()  # pruned after API_IDEMPOTENCY_TTL_HOURS

    again = api.post(URL, data, format="json", HTTP_IDEMPOTENCY_KEY="form-78")

    assert again.status_code == 201
    assert "Idempotent-Replayed" not in again
    assert again.json() == first.json()
    assert ConsentEvent.objects.count() == 1
    assert OutboundMessage.objects.count() == 1


def test_without_a_key_each_post_is_a_new_event(api, program):
    api.post(URL, body(), format="json")
    api.post(URL, body(), format="json")
    assert ConsentEvent.objects.count() == 2
