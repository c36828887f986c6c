"""Every /api/ answer is JSON, bodies are bounded in size and depth, and types are not coerced."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from drf_spectacular.generators import SchemaGenerator

from config.api.consent import ConsentCheckView
from consent.models import ConsentEvent, Contact
from tests.factories import create_program

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(partner_api):
    create_program("offers")
    return partner_api(["consent:read", "consent:write", "messages:send", "events:write"])


def nested(levels: int) -> str:
    return '{"k": [' * (levels // 2) + "1" + "]}" * (levels // 2)


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["code"] == code and body["message"]
    return body


# --- depth and size -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "template"),
    [
        ("/api/v1/contacts/", '{"phone": "+14155552671", "attributes": {"a": %s}}'),
        (
            "/api/v1/events/",
            '{"type": "lead.created", "phone": "+14155552671", '
            '"occurred_at": "2025-01-15T14:30:00Z", "data": {"a": %s}}',
        ),
        ("/api/v1/opt-ins/", '{"phone": "+14155552671", "evidence": {"user_agent": %s}}'),
    ],
)
def test_json_nested_a_thousand_levels_is_a_400_and_nothing_is_written(api, url, template):
    body = template % nested(1000)
    assert 4_000 < len(body) < 12_000

    response = api.post(url, body, content_type="application/json")

    answer = assert_error(response, 400, "too_deep")
    assert "20 levels" in answer["message"]
    assert not Contact.objects.exists() and not ConsentEvent.objects.exists()


def test_json_within_the_depth_limit_is_read(api, settings):
    settings.API_MAX_JSON_DEPTH = 4
    attributes = {"a": {"b": {"c": 1}}}  # the body nests 4 deep

    ok = api.post(
        "/api/v1/contacts/", {"phone": "+14155552671", "attributes": attributes}, format="json"
    )
    refused = api.post(
        "/api/v1/contacts/",
        {"phone": "+14155552671", "attributes": {"a": attributes}},
        format="json",
    )

    assert ok.status_code == 201
    assert Contact.objects.get().attributes == attributes
    assert_error(refused, 400, "too_deep")


def test_a_body_over_the_size_limit_is_a_413(api, settings):
    settings.API_MAX_BODY_BYTES = 2_000
    payload = {"phone": "+14155552671", "first_name": "x" * 2_000}

    response = api.post("/api/v1/contacts/", payload, format="json")

    assert_error(response, 413, "too_large")
    assert not Contact.objects.exists()


# --- JSON everywhere under /api/ ------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/api/v1/messages/abc/", "/api/v1/messages/null,null/", "/api/v1/nothing-here/", "/api/x"],
)
def test_a_404_under_api_is_json(api, path):
    assert_error(api.get(path), 404, "not_found")


def test_a_404_elsewhere_stays_an_html_page(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_a_405_under_api_is_json(api):
    assert_error(api.delete("/api/v1/opt-ins/"), 405, "method_not_allowed")


def test_a_server_error_under_api_is_json(api, monkeypatch):
    def broken(self, request):
        raise RuntimeError("a bug")

    monkeypatch.setattr(ConsentCheckView, "get", broken)
    client = Client(raise_request_exception=False)

    response = client.get(
        "/api/v1/consent/check/?phone=%2B14155552671&program=offers",
        HTTP_AUTHORIZATION=f"Bearer {api.key}",
    )

    body = assert_error(response, 500, "server_error")
    assert "a bug" not in json.dumps(body)


# --- no type coercion -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "payload", "field"),
    [
        ("/api/v1/contacts/", {"phone": "+14155552671", "tags": [0]}, "tags"),
        ("/api/v1/contacts/", {"phone": 4155552671}, "phone"),
        ("/api/v1/contacts/", {"phone": "+14155552671", "first_name": 12}, "first_name"),
        ("/api/v1/contacts/", {"phone": "+14155552671", "attributes": []}, "attributes"),
        ("/api/v1/messages/preview/", {"body": "Hi", "smart_encoding": 0}, "smart_encoding"),
        ("/api/v1/messages/preview/", {"body": "Hi", "smart_encoding": "true"}, "smart_encoding"),
        ("/api/v1/messages/preview/", {"body": "Hi", "template": "5"}, "template"),
        ("/api/v1/messages/preview/", {"body": 5}, "body"),
        (
            "/api/v1/opt-ins/",
            {
                "phone": "+14155552671",
                "program": "offers",
                "method": "web_form",
                "source": "https://acme.example/join",
                "occurred_at": "2025-01-15T14:30:00Z",
                "disclosure_version": "1",
            },
            "disclosure_version",
        ),
        (
            "/api/v1/opt-outs/",
            {"phone": "+14155552671", "program": "offers", "method": "api", "source": True},
            "source",
        ),
        (
            "/api/v1/opt-ins/",
            {"phone": "+14155552671", "evidence": {"user_agent": 7}},
            "evidence.user_agent",
        ),
    ],
)
def test_a_value_of_another_type_is_refused_not_coerced(api, url, payload, field):
    response = api.post(url, payload, format="json")

    body = assert_error(response, 400, "invalid")
    assert field in body["fields"]
    assert not Contact.objects.exists() and not ConsentEvent.objects.exists()


def test_values_of_the_promised_types_still_pass(api):
    ok = api.post(
        "/api/v1/messages/preview/",
        {"body": "Hi", "smart_encoding": True, "template": None},
        format="json",
    )
    assert ok.status_code == 200
    contact = api.post(
        "/api/v1/contacts/", {"phone": "+14155552671", "tags": ["vip"]}, format="json"
    )
    assert contact.status_code == 201


# --- the schema says so -------------------------------------------------------------------


def test_the_schema_documents_404_409_413_and_422_where_they_occur():
    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]

    for path, operations in paths.items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            if "{" in path:
                assert "404" in codes, (method, path)
            if method == "post":
                assert {"409", "413", "422"} <= codes, (method, path)
                ref = operation["responses"]["413"]["content"]["application/json"]["schema"]
                assert ref == {"$ref": "#/components/schemas/Error"}
