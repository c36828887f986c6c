"""POST /api/v1/events/: an event fires its flows; bad input is refused and stores nothing."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from campaigns.models import FlowEvent, FlowRun
from consent.models import Contact
from consent.services import contact_erase
from messaging.models import OutboundMessage
from tests.campaigns.flow_helpers import make_flow, program_with_sender, subscriber

pytestmark = pytest.mark.django_db

URL = "/api/v1/events/"
PHONE = "+14155552671"


@pytest.fixture
def api(partner_api):
    return partner_api(["events:write"])


@pytest.fixture
def service():
    return program_with_sender()


def booked(**fields):
    appointment = (timezone.now() + timedelta(days=3)).replace(microsecond=0)
    body = {
        "type": "appointment.booked",
        "phone": "(415) 555-2671",
        "occurred_at": timezone.now().isoformat(),
        "data": {"appointment_at": appointment.isoformat(), "service": "tune-up"},
    }
    return body | fields


def nothing_stored() -> bool:
    return not (
        FlowEvent.objects.exists()
        or FlowRun.objects.exists()
        or OutboundMessage.objects.exists()
        or Contact.objects.filter(phone=PHONE).exists()
    )


def test_it_fires_the_flows_and_answers_202_with_each_run(api, service):
    confirm = make_flow(service, name="Appointment confirmation")
    remind = make_flow(
        service, name="Appointment reminder", anchor="appointment_at", offset=timedelta(hours=-24)
    )
    subscriber(service, phone=PHONE, first_name="Ana")
    body = booked()

    response = api.post(URL, body, format="json")

    assert response.status_code == 202, response.json()
    answer = response.json()
    event = FlowEvent.objects.get()
    assert (event.client, event.type) == (api.partner, "appointment.booked")
    assert event.data == body["data"]
    assert answer["id"] == event.pk and answer["phone"] == PHONE
    runs = {run["flow"]: run for run in answer["runs"]}
    assert set(runs) == {confirm.name, remind.name}
    reminder = FlowRun.objects.get(flow=remind)
    assert runs[remind.name] == {
        "flow": remind.name,
        "outcome": "queued",
        "reason": "",
        "fire_at": reminder.fire_at.isoformat().replace("+00:00", "Z"),
        "message_id": reminder.message_id,
    }
    assert OutboundMessage.objects.filter(kind="flow", status="queued").count() == 2


def test_it_answers_an_event_no_flow_listens_to_with_no_runs(api):
    response = api.post(URL, booked(type="lead.created"), format="json")
    assert response.status_code == 202
    assert response.json()["runs"] == []
    assert FlowEvent.objects.get().contact.phone == PHONE  # the person is known from now on


def test_it_reports_a_blocked_run_for_a_person_without_consent(api, service):
    make_flow(service, name="Appointment confirmation")
    [run] = api.post(URL, booked(), format="json").json()["runs"]
    assert (run["outcome"], run["reason"]) == ("blocked", "no_consent")


def test_a_repeat_with_the_same_idempotency_key_fires_nothing_again(api, service):
    make_flow(service)
    subscriber(service, phone=PHONE)
    body = booked()
    first = api.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="crm-evt-1")
    again = api.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="crm-evt-1")
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert (FlowEvent.objects.count(), FlowRun.objects.count()) == (1, 1)
    assert OutboundMessage.objects.count() == 1


@pytest.mark.parametrize(
    ("fields", "field", "code"),
    [
        ({"phone": "555"}, "phone", "invalid_phone"),
        ({"phone": "not a number"}, "phone", "invalid_phone"),
        ({"type": "Lead Created"}, "type", "invalid"),
        ({"type": "lead"}, "type", "invalid"),
        ({"type": "consent.opted_in"}, "type", "invalid"),
        ({"occurred_at": "2025-01-15T14:30:00"}, "occurred_at", "invalid"),
        ({"occurred_at": "yesterday"}, "occurred_at", "invalid"),
        ({"occurred_at": "2999-01-01T00:00:00Z"}, "occurred_at", "invalid"),
        ({"data": ["a", "b"]}, "data", "invalid"),
        ({"data": {"note": "x" * 20_000}}, "data", "invalid"),
    ],
)
def test_it_refuses_bad_input_naming_the_field_and_stores_nothing(
    api, service, fields, field, code
):
    make_flow(service)
    response = api.post(URL, booked(**fields), format="json")
    assert response.status_code == 400
    error = response.json()
    assert error["code"] == code
    assert list(error["fields"]) == [field]
    assert nothing_stored()


def test_it_refuses_a_number_erased_on_request(api, service):
    contact = subscriber(service, phone=PHONE)
    contact_erase(contact=contact, request_ref="DSR-1")
    response = api.post(URL, booked(), format="json")
    assert (response.status_code, response.json()["code"]) == (400, "erased")
    assert not FlowEvent.objects.exists()
    assert not Contact.objects.filter(phone=PHONE).exists()


def test_it_needs_a_key_with_the_events_scope(partner_api):
    assert APIClient().post(URL, booked(), format="json").status_code == 401
    wrong = partner_api(["consent:write", "messages:send"])
    response = wrong.post(URL, booked(), format="json")
    assert (response.status_code, response.json()["code"]) == (403, "missing_scope")
    assert nothing_stored()


def test_the_endpoint_is_documented_in_the_schema():
    schema = APIClient().get("/api/schema/", HTTP_ACCEPT="application/json").json()
    operation = schema["paths"]["/api/v1/events/"]["post"]
    assert operation["operationId"] == "events_create"
    assert set(operation["responses"]) >= {"202", "400", "401", "403"}
    request = operation["requestBody"]["content"]["application/json"]
    assert request["examples"]["AppointmentBooked"]["value"]["type"] == "appointment.booked"
