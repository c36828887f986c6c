"""The OpenAPI schema at /api/schema/ and the docs at /api/docs/: valid, complete, offline."""

from __future__ import annotations

import io
import re

import pytest
import yaml
from django.contrib.staticfiles import finders
from django.core.management import call_command
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def schema() -> dict:
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


def operations(schema: dict):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield f"{method.upper()} {path}", operation


def test_it_serves_a_valid_openapi_3_schema_without_a_key():
    response = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi")

    assert response.status_code == 200
    served = yaml.safe_load(response.content)
    assert served["openapi"].startswith("3.")
    validate_schema(served)  # raises on an invalid document
    assert "/api/v1/messages/" in served["paths"]


def test_it_generates_without_a_single_warning(capsys):
    try:
        call_command("spectacular", "--validate", "--fail-on-warn", stdout=io.StringIO())
    except Exception as exc:  # SchemaGenerationError; drf-spectacular prints the warnings
        pytest.fail(f"{exc}\n{capsys.readouterr().err}")


def test_every_operation_has_a_summary_a_description_security_and_an_example(schema):
    missing = []
    for name, operation in operations(schema):
        if not operation.get("summary") or not operation.get("description"):
            missing.append(f"{name}: summary/description")
        if operation.get("security", schema.get("security")) != [{"ApiKey": []}]:
            missing.append(f"{name}: security")
        contents = [*operation.get("requestBody", {}).get("content", {}).values()]
        for response in operation.get("responses", {}).values():
            contents += response.get("content", {}).values()
        if not any(content.get("examples") for content in contents):
            missing.append(f"{name}: example")
    assert missing == []


def test_it_documents_the_message_endpoints(schema):
    names = {name for name, _ in operations(schema)}

    assert {
        "POST /api/v1/messages/",
        "GET /api/v1/messages/{id}/",
        "POST /api/v1/messages/preview/",
    } <= names
    send = schema["paths"]["/api/v1/messages/"]["post"]
    assert set(send["responses"]) >= {"202", "400", "401", "403", "422", "429"}
    assert "Idempotency-Key" in [p["name"] for p in send["parameters"]]


def test_the_docs_page_loads_its_files_from_our_own_static_files():
    response = APIClient().get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets)
    for asset in assets:
        assert asset.startswith("/static/"), asset
        assert finders.find(asset.removeprefix("/static/")), asset
    assert "cdn" not in html.lower()
