"""POST /api/v1/opt-outs/: a revocation, of one program or all, is recorded and honoured at once."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from consent.models import ConsentEvent, ConsentState, Contact, Suppression
from consent.selectors import can_message
from consent.services import contact_erase
from messaging.models import IdempotencyRecord, MessageStatus
from messaging.services import message_queue
from tests.factories import create_contact, create_program, create_sender, opt_in

pytestmark = pytest.mark.django_db

URL = "/api/v1/opt-outs/"
PHONE = "+14155552671"


def body(**changes) -> dict:
    data = {
        "phone": "+1 415 555 2671",
        "program": "offers",
        "method": "email",
        "source": "support ticket 4411",
    }
    return {k: v for k, v in (data | changes).items() if v is not None}


@pytest.fixture
def offers():
    program = create_program("offers")
    create_sender(program)
    return program


@pytest.fixture
def alerts():
    program = create_program("alerts", message_type="transactional")
    create_sender(program)
    return program


@pytest.fixture
def contact(offers, alerts):
    contact = create_contact(PHONE)
    opt_in(contact, offers, at=timezone.now() - timedelta(days=3))
    opt_in(contact, alerts, at=timezone.now() - timedelta(days=3))
    return contact


@pytest.fixture
def api(partner_api):
    return partner_api(["consent:write"], name="CRM")


def test_it_revokes_one_program_and_answers_the_event(api, contact, offers, alerts):
    response = api.post(URL, body(text="please stop texting me"), format="json")

    assert response.status_code == 201
    event = ConsentEvent.objects.get(kind="opt_out")
    data = response.json()
    assert data["phone"] == PHONE
    assert data["suppressed"] is False
    assert [e["id"] for e in data["events"]] == [event.pk]
    assert data["events"][0] | {"occurred_at": None, "recorded_at": None} == {
        "id": event.pk,
        "phone": PHONE,
        "program": "offers",
        "kind": "opt_out",
        "resulting_status": "opted_out",
        "method": "email",
        "source": "support ticket 4411",
        "occurred_at": None,
        "recorded_at": None,
        "disclosure_version": None,
        "disclosure_hash": "",
        "evidence": {"raw_text": "please stop texting me"},
    }
    assert event.evidence == {"raw_text": "please stop texting me"}
    assert event.recorded_by_label == "api:CRM"
    assert ConsentState.objects.get(program=offers).status == "opted_out"
    assert ConsentState.objects.get(program=alerts).status == "opted_in"
    assert not can_message(PHONE, offers)
    assert can_message(PHONE, alerts)
    assert not Suppression.objects.exists()


def test_all_revokes_every_program_and_suppresses_the_number(api, contact, offers, alerts):
    response = api.post(URL, body(program="all"), format="json")

    assert response.status_code == 201
    assert response.json()["suppressed"] is True
    assert sorted(e["program"] for e in response.json()["events"]) == ["alerts", "offers"]
    assert set(ConsentState.objects.values_list("status", flat=True)) == {"opted_out"}
    assert Suppression.objects.get().phone == PHONE
    later = create_program("later")
    assert can_message(PHONE, later).reason == "suppressed"


def test_it_cancels_messages_still_waiting_for_that_program(api, contact, offers, alerts):
    waiting = message_queue(contact=contact, program=offers, body="Sale!", kind="api")
    other = message_queue(contact=contact, program=alerts, body="Your order shipped", kind="api")
    assert waiting.status == other.status == MessageStatus.QUEUED

    assert api.post(URL, body(), format="json").status_code == 201

    waiting.refresh_from_db()
    other.refresh_from_db()
    assert waiting.status == MessageStatus.CANCELLED
    assert other.status == MessageStatus.QUEUED


def test_it_records_an_opt_out_for_a_number_never_seen(api, offers):
    response = api.post(URL, body(phone="415-555-0199"), format="json")
    assert response.status_code == 201
    assert response.json()["events"][0]["phone"] == "+14155550199"
    assert ConsentState.objects.get().status == "opted_out"


def test_it_records_an_opt_out_of_an_inactive_program(api, contact, offers):
    offers.active = False
    offers.save()
    response = api.post(URL, body(), format="json")
    assert response.status_code == 201
    assert ConsentEvent.objects.filter(kind="opt_out").count() == 1


def test_an_erased_number_is_answered_without_storing_it_again(api, contact, offers):
    contact_erase(contact=contact)
    events = ConsentEvent.objects.count()

    response = api.post(URL, body(program="all"), format="json")

    assert response.status_code == 200
    assert response.json() == {"phone": PHONE, "suppressed": True, "events": []}
    assert ConsentEvent.objects.count() == events
    assert not Contact.objects.filter(phone=PHONE).exists()


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"phone": "12"}, "invalid", "phone"),
        ({"program": "nope"}, "unknown_program", "program"),
        ({"program": None}, "invalid", "program"),
        ({"method": None}, "invalid", "method"),
        ({"method": "shouting"}, "invalid", "method"),
        ({"source": ""}, "invalid", "source"),
        ({"occurred_at": "2025-01-15 14:30"}, "invalid", "occurred_at"),
        ({"occurred_at": "2999-01-01T00:00:00Z"}, "future_datetime", "occurred_at"),
    ],
)
def test_it_refuses_bad_input_naming_the_field_and_writes_nothing(
    api, contact, changes, code, field
):
    events = ConsentEvent.objects.count()
    response = api.post(URL, body(**changes), format="json")

    assert response.status_code == 400
    assert response.json()["code"] == code
    assert field in response.json()["fields"]
    assert ConsentEvent.objects.count() == events
    assert set(ConsentState.objects.values_list("status", flat=True)) == {"opted_in"}
    assert not Suppression.objects.exists()


def test_it_answers_401_without_a_key(contact):
    assert APIClient().post(URL, body(), format="json").status_code == 401
    assert not ConsentEvent.objects.filter(kind="opt_out").exists()


def test_it_answers_403_without_the_write_scope(partner_api, contact):
    response = partner_api(["consent:read", "exports:read"]).post(URL, body(), format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "missing_scope"
    assert not ConsentEvent.objects.filter(kind="opt_out").exists()


def test_a_repeat_with_the_same_idempotency_key_answers_the_same_and_records_once(api, contact):
    first = api.post(URL, body(program="all"), format="json", HTTP_IDEMPOTENCY_KEY="t-4411")
    again = api.post(URL, body(program="all"), format="json", HTTP_IDEMPOTENCY_KEY="t-4411")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert ConsentEvent.objects.filter(kind="opt_out").count() == 2  # one per program, once
    assert Suppression.objects.count() == 1


def test_the_key_also_guards_the_ledger_after_the_stored_answer_is_gone(api, contact):
    first = api.post(URL, body(), format="json", HTTP_IDEMPOTENCY_KEY="t-4412")
    IdempotencyRecord.objects.all().delete()
    again = api.post(URL, body(), format="json", HTTP_IDEMPOTENCY_KEY="t-4412")
    assert again.json()["events"] == first.json()["events"]
    assert ConsentEvent.objects.filter(kind="opt_out").count() == 1
