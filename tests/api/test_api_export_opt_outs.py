"""GET /api/v1/exports/opt-outs/: the opt-out log as streamed CSV, from a moment on."""

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from consent.services import consent_revoke
from tests.factories import create_contact, create_program, opt_in

pytestmark = pytest.mark.django_db

URL = "/api/v1/exports/opt-outs/"
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def api(partner_api):
    return partner_api(["exports:read"])


@pytest.fixture
def log():
    """Three opt-outs a day apart, one with a text that would be a spreadsheet formula."""
    offers, alerts = create_program("offers"), create_program("alerts")
    texts = ["STOP", '=HYPERLINK("http://evil.example")', "stop texting me"]
    for n, text in enumerate(texts):
        contact = create_contact(f"+1415555020{n}")
        program = alerts if n == 1 else offers
        opt_in(contact, program, at=T0 - timedelta(days=30))
        consent_revoke(
            contact=contact,
            programs=[program],
            method="keyword",
            source="STOP to 12345",
            occurred_at=T0 + timedelta(days=n),
            evidence={"raw_text": text},
        )


def rows(response) -> list[dict]:
    assert response.status_code == 200
    assert response.streaming
    content = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(content)))


def test_it_streams_the_whole_log_as_csv_oldest_first(api, log):
    response = api.get(URL)

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="opt-outs-')
    found = rows(response)
    assert [r["phone"] for r in found] == ["+14155550200", "+14155550201", "+14155550202"]
    assert found[0]["program"] == "offers"
    assert found[0]["opted_out_at"] == "2025-03-01T12:00:00Z"
    assert found[0]["raw_text"] == "STOP"
    assert found[1]["raw_text"] == '\'=HYPERLINK("http://evil.example")'  # formula escaped


@pytest.mark.parametrize(
    "since",
    ["2025-03-02T12:00:00Z", "2025-03-02T07:00:00-05:00", "2025-03-02T13:00:00 01:00"],
)
def test_since_keeps_what_occurred_at_or_after_it(api, log, since):
    found = rows(api.get(URL, {"since": since}))
    assert [r["phone"] for r in found] == ["+14155550201", "+14155550202"]


def test_program_keeps_one_programs_opt_outs(api, log):
    found = rows(api.get(URL, {"program": "alerts"}))
    assert [r["phone"] for r in found] == ["+14155550201"]


def test_an_empty_log_is_a_header_alone(api):
    content = b"".join(api.get(URL).streaming_content).decode()
    assert content.splitlines()[0].startswith("event_id,phone,program,opted_out_at")
    assert len(content.splitlines()) == 1


@pytest.mark.parametrize("since", ["yesterday", "2025-03-02T12:00:00", "2025-13-45T00:00:00Z"])
def test_a_bad_since_is_400_naming_it(api, log, since):
    response = api.get(URL, {"since": since})
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "invalid"
    assert list(response.json()["fields"]) == ["since"]


def test_an_unknown_program_is_400(api):
    response = api.get(URL, {"program": "nope"})
    assert response.status_code == 400
    assert response.json()["code"] == "unknown_program"


def test_it_answers_csv_whatever_the_accept_header(api, log):
    response = api.get(URL, HTTP_ACCEPT="text/csv")
    assert len(rows(response)) == 3


def test_it_answers_401_without_a_key():
    response = APIClient().get(URL)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_it_answers_403_without_the_exports_scope(partner_api):
    response = partner_api(["consent:read", "consent:write"]).get(URL)
    assert response.status_code == 403
    assert response.json()["code"] == "missing_scope"


def test_it_is_fresh_on_each_call(api, log):
    assert len(rows(api.get(URL))) == 3
    contact = create_contact("+14155550299")
    consent_revoke(
        contact=contact,
        programs=[create_program("later")],
        method="api",
        source="test",
        occurred_at=timezone.now(),
    )
    assert len(rows(api.get(URL))) == 4
