"""POST /api/v1/messages/ and GET /api/v1/messages/{id}/: a partner sends one message from an
approved template and reads back its status and events."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.utils import timezone

from config.api.message_serializers import MAX_CONTEXT_KEYS
from consent import services
from consent.models import Contact, MessageType
from messaging.models import IdempotencyRecord, MessageEvent, MessageKind, OutboundMessage
from messaging.sending_rules import RuleBook, next_allowed_at
from tests.factories import (
    create_approved_version,
    create_contact,
    create_program,
    create_sender,
    create_template,
    create_version,
    next_phone,
    opt_in,
)

pytestmark = pytest.mark.django_db

URL = "/api/v1/messages/"
BODY = (
    "Acme Clinic: {first_name|Hi}, see you {event.appointment_at:datetime}. Reply STOP to opt out"
)


@pytest.fixture
def program(db):
    program = create_program("appointments", message_type=MessageType.TRANSACTIONAL)
    create_sender(program)
    return program


@pytest.fixture
def version(program):
    return create_approved_version(
        create_template(program, name="Appointment reminder", category="reminder"), body=BODY
    )


@pytest.fixture
def contact(program):
    contact = create_contact(first_name="Dana", time_zone="America/Chicago")
    opt_in(contact, program)
    return contact


@pytest.fixture
def api(partner_api):
    return partner_api(["messages:send"])


def national(e164: str) -> str:
    """+14152000007 -> (415) 200-0007: the API takes any format."""
    return f"({e164[2:5]}) {e164[5:8]}-{e164[8:]}"


def payload(contact: Contact, version, **fields) -> dict:
    return {
        "phone": national(contact.phone),
        "program": "appointments",
        "template_version": version.pk,
        "context": {"appointment_at": "2026-03-12T15:30:00-05:00"},
    } | fields


def written() -> tuple[int, int, int, int]:
    return (
        Contact.objects.count(),
        OutboundMessage.objects.count(),
        MessageEvent.objects.count(),
        IdempotencyRecord.objects.count(),
    )


# --- decisions ------------------------------------------------------------------------------


def test_it_queues_a_message_and_answers_202_with_the_decision(
    api, contact, version, no_quiet_hours
):
    response = api.post(URL, payload(contact, version), format="json")

    assert response.status_code == 202
    body = response.json()
    message = OutboundMessage.objects.get()
    assert body == {
        "id": message.pk,
        "status": "queued",
        "decision": "queued",
        "reason": "",
        "held_until": None,
        "to": contact.phone,
        "program": "appointments",
        "template_version": version.pk,
        "body": "Acme Clinic: Dana, see you Thu Mar 12, 3:30 PM. Reply STOP to opt out",
        "segments": 1,
        "encoding": "GSM-7",
        "created_at": body["created_at"],
    }
    assert (message.kind, message.contact, message.message_type) == (
        MessageKind.API,
        contact,
        MessageType.TRANSACTIONAL,
    )
    event = message.events.get()
    assert (event.kind, event.data) == ("queued", {"api_client": api.partner.pk})


def test_it_sends_the_approved_version_of_a_template_named_in_the_program(
    api, contact, version, no_quiet_hours
):
    create_version(version.template, body="A newer draft {first_name}")
    fields = payload(contact, version, template="Appointment reminder")
    del fields["template_version"]

    response = api.post(URL, fields, format="json")

    assert response.status_code == 202
    assert response.json()["template_version"] == version.pk


def test_it_creates_the_contact_for_a_new_number_and_uses_token_defaults(
    api, version, program, no_quiet_hours
):
    phone = next_phone()
    fields = payload(Contact(phone=phone), version)

    response = api.post(URL, fields, format="json")

    assert response.status_code == 202
    assert (response.json()["decision"], response.json()["reason"]) == ("blocked", "no_consent")
    assert response.json()["body"].startswith("Acme Clinic: Hi, see you Thu Mar 12, 3:30 PM.")
    assert Contact.objects.filter(phone=phone).exists()


def zone_at_local_hour(hour: int, now: datetime) -> str:
    """An Etc/GMT zone where it is now `hour` o'clock (the sign of Etc/GMT names is reversed)."""
    offset = (hour - now.astimezone(UTC).hour) % 24
    offset = offset - 24 if offset > 12 else offset
    return f"Etc/GMT{-offset:+d}" if offset else "Etc/GMT"


def test_it_holds_a_message_in_quiet_hours_and_says_until_when(api, program, version):
    now = timezone.now()
    contact = create_contact(first_name="Dana", time_zone=zone_at_local_hour(3, now))
    opt_in(contact, program)
    until = next_allowed_at(contact, program, now, RuleBook.from_db())
    assert until > now  # 3 a.m. is quiet under every rule

    response = api.post(URL, payload(contact, version), format="json")

    assert response.status_code == 202
    body = response.json()
    assert (body["status"], body["decision"], body["reason"]) == ("held", "held", "quiet_hours")
    assert datetime.fromisoformat(body["held_until"]) == until
    message = OutboundMessage.objects.get()
    assert (message.status, message.next_attempt_at) == ("held", until)
    assert [(e.kind, e.reason) for e in message.events.all()] == [
        ("queued", ""),
        ("held", "quiet_hours"),
    ]


def opted_out(contact, program):
    services.consent_revoke(contact=contact, programs=[program], method="keyword", source="STOP")


def suppressed(contact, program):
    services.suppression_add(phone=contact.phone, reason="legal_request")


def never_opted_in(contact, program):
    pass


@pytest.mark.parametrize(
    ("setup", "reason"),
    [(opted_out, "opted_out"), (suppressed, "suppressed"), (never_opted_in, "no_consent")],
)
def test_it_answers_202_blocked_with_the_reason(api, program, version, setup, reason):
    contact = create_contact(first_name="Dana")
    if setup is not never_opted_in:
        opt_in(contact, program)
    setup(contact, program)

    response = api.post(URL, payload(contact, version), format="json")

    assert response.status_code == 202
    assert (response.json()["decision"], response.json()["reason"]) == ("blocked", reason)
    message = OutboundMessage.objects.get()
    assert (message.status, message.reason) == ("blocked", reason)
    event = message.events.get()
    assert (event.kind, event.data) == ("blocked", {"api_client": api.partner.pk})


# --- refusals: 400 naming the field, nothing written ----------------------------------------


def unapproved(version, program):
    return {"template_version": create_version(version.template, body="Draft {first_name}").pk}


def other_programs(version, program):
    other = create_program("offers")
    return {"template_version": create_approved_version(create_template(other)).pk}


def bad_phone(version, program):
    return {"phone": "555-CALL-NOW"}


def unknown_program(version, program):
    return {"program": "nope"}


def missing_token(version, program):
    return {"context": {"clinic": "Main St"}}


def too_many_values(version, program):
    return {"context": {f"k{i}": "x" for i in range(MAX_CONTEXT_KEYS + 1)}}


def too_long_a_value(version, program):
    return {"context": {"appointment_at": "x" * 501}}


def not_a_token_name(version, program):
    return {"context": {"Appointment At": "soon"}}


def unknown_template(version, program):
    return {"template_version": None, "template": "Nope"}


def neither(version, program):
    return {"template_version": None}


def unknown_version(version, program):
    return {"template_version": 10**9}


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        (bad_phone, "phone", "invalid_phone"),
        (unknown_program, "program", "invalid"),
        (unapproved, "template_version", "not_approved"),
        (other_programs, "template_version", "wrong_program"),
        (unknown_version, "template_version", "invalid"),
        (unknown_template, "template", "invalid"),
        (neither, "template_version", "invalid"),
        (missing_token, "context", "missing_token"),
        (too_many_values, "context", "invalid"),
        (too_long_a_value, "context", "invalid"),
        (not_a_token_name, "context", "invalid"),
    ],
)
def test_it_refuses_bad_input_with_400_naming_the_field_and_writes_nothing(
    api, version, program, change, field, code
):
    phone = next_phone()  # a new number: a refusal must not leave a contact behind
    fields = {
        k: v
        for k, v in (payload(Contact(phone=phone), version) | change(version, program)).items()
        if v is not None
    }
    before = written()

    response = api.post(URL, fields, format="json", HTTP_IDEMPOTENCY_KEY="order-1")

    assert response.status_code == 400, response.json()
    assert response.json()["code"] == code
    assert list(response.json()["fields"]) == [field]
    assert written() == before
    assert not Contact.objects.filter(phone=phone).exists()


def test_it_names_the_missing_token(api, contact, version):
    response = api.post(URL, payload(contact, version, context={}), format="json")

    assert response.json()["fields"]["context"][0].startswith("No value for {event.appointment_at}")


def test_it_refuses_a_schedule_more_than_30_days_ahead(api, contact, version):
    later = (timezone.now() + timezone.timedelta(days=31)).isoformat()

    response = api.post(URL, payload(contact, version, send_at=later), format="json")

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["send_at"]


def test_it_queues_a_scheduled_message_for_its_time(api, contact, version, no_quiet_hours):
    later = timezone.now() + timezone.timedelta(days=2)

    response = api.post(URL, payload(contact, version, send_at=later.isoformat()), format="json")

    assert response.json()["decision"] == "queued"
    assert OutboundMessage.objects.get().next_attempt_at == later


def test_a_schedule_in_the_past_means_now(api, contact, version, no_quiet_hours):
    before = timezone.now()

    api.post(URL, payload(contact, version, send_at="2020-01-01T00:00:00Z"), format="json")

    assert OutboundMessage.objects.get().next_attempt_at >= before


# --- keys, scopes, idempotency ---------------------------------------------------------------


def test_it_answers_401_without_a_key_and_403_without_the_scope(partner_api, contact, version):
    from rest_framework.test import APIClient

    assert APIClient().post(URL, payload(contact, version), format="json").status_code == 401
    reader = partner_api(["consent:read", "consent:write"])
    response = reader.post(URL, payload(contact, version), format="json")
    assert (response.status_code, response.json()["code"]) == (403, "missing_scope")
    assert not OutboundMessage.objects.exists()


def test_a_repeated_idempotency_key_answers_the_same_and_sends_once(
    api, contact, version, no_quiet_hours
):
    first = api.post(URL, payload(contact, version), format="json", HTTP_IDEMPOTENCY_KEY="o-7")
    again = api.post(URL, payload(contact, version), format="json", HTTP_IDEMPOTENCY_KEY="o-7")

    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert OutboundMessage.objects.count() == 1


# --- reading a message back ------------------------------------------------------------------


def test_it_shows_the_status_and_events_of_a_message(api, program, version):
    now = timezone.now()
    contact = create_contact(first_name="Dana", time_zone=zone_at_local_hour(3, now))
    opt_in(contact, program)
    sent = api.post(URL, payload(contact, version), format="json").json()

    response = api.get(f"{URL}{sent['id']}/")

    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["status"], body["reason"], body["to"]) == (
        sent["id"],
        "held",
        "quiet_hours",
        contact.phone,
    )
    assert [(e["kind"], e["reason"], e["until"]) for e in body["events"]] == [
        ("queued", "", None),
        ("held", "quiet_hours", sent["held_until"]),
    ]
    assert body["body"] == sent["body"]


def test_a_client_sees_only_the_messages_it_sent(partner_api, contact, version, no_quiet_hours):
    mine, theirs = partner_api(["messages:send"]), partner_api(["messages:send"])
    sent = mine.post(URL, payload(contact, version), format="json").json()

    assert mine.get(f"{URL}{sent['id']}/").status_code == 200
    response = theirs.get(f"{URL}{sent['id']}/")
    assert (response.status_code, response.json()["code"]) == (404, "not_found")
    assert theirs.get(f"{URL}999999999/").status_code == 404


def test_reading_needs_the_send_scope(partner_api, api, contact, version, no_quiet_hours):
    sent = api.post(URL, payload(contact, version), format="json").json()
    reader = partner_api(["consent:read"])

    assert reader.get(f"{URL}{sent['id']}/").status_code == 403
