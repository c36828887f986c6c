"""POST /api/v1/messages/preview/ answers what the template editor shows for the same body."""

from __future__ import annotations

import pytest

from templates.admin import analysis_payload
from tests.factories import create_program, create_template

pytestmark = pytest.mark.django_db

URL = "/api/v1/messages/preview/"

BODIES = {
    "gsm": "Acme: your order has shipped. Reply STOP to opt out",
    "ucs2": "Acme: your order has shipped 🎉 Reply STOP to opt out",
    "smart quotes": "Acme: “It’s here” — your order has shipped. Reply STOP to opt out",  # noqa: RUF001
    "shortener": "Acme: 20% off today only https://bit.ly/x Reply STOP to opt out",
    "extension characters": "Acme: €5 off [today] {{only}} ~ Reply STOP to opt out",
    "long": "Acme: " + "news " * 70 + "Reply STOP to opt out",
    "bad token": "Acme: hi {First_Name}",
}


@pytest.fixture
def api(partner_api):
    return partner_api(["messages:send"])


@pytest.mark.parametrize("body", BODIES.values(), ids=BODIES.keys())
def test_it_agrees_with_the_template_editor(api, body):
    response = api.post(URL, {"body": body}, format="json")

    assert response.status_code == 200
    assert response.json() == analysis_payload(body)


def test_it_reports_the_characters_that_force_ucs2_and_a_blocked_shortener(api):
    ucs2 = api.post(URL, {"body": BODIES["ucs2"]}, format="json").json()
    shortener = api.post(URL, {"body": BODIES["shortener"]}, format="json").json()

    assert (ucs2["encoding"], ucs2["non_gsm"]) == ("UCS-2", ["🎉"])
    assert [(f["code"], f["severity"]) for f in shortener["findings"]] == [
        ("public_shortener", "block")
    ]


def test_it_counts_extension_characters_twice(api):
    body = api.post(URL, {"body": "€[]"}, format="json").json()

    assert (body["encoding"], body["characters"]) == ("GSM-7", 6)


def test_with_smart_encoding_it_describes_the_text_twilio_will_send(api):
    body = BODIES["smart quotes"]
    editor = analysis_payload(body)

    response = api.post(URL, {"body": body, "smart_encoding": True}, format="json").json()

    assert editor["encoding"] == "UCS-2"
    assert (response["encoding"], response["segments"], response["non_gsm"]) == (
        editor["smart_encoding"]["encoding"],
        editor["smart_encoding"]["segments"],
        [],
    )
    assert response["encoding"] == "GSM-7"
    assert response["findings"] == editor["findings"]


def test_with_a_template_it_checks_with_its_programs_rules(api):
    template = create_template(create_program("offers", brand_name="Zenith"))
    body = "Acme: 20% off everything this weekend"

    response = api.post(URL, {"body": body, "template": template.pk}, format="json").json()

    assert response == analysis_payload(body, template_id=template.pk)
    assert "missing_brand_name" in [f["code"] for f in response["findings"]]
    assert "missing_brand_name" not in [
        f["code"] for f in api.post(URL, {"body": body}, format="json").json()["findings"]
    ]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({}, "body"),
        ({"body": ""}, "body"),
        ({"body": "x" * 1601}, "body"),
        ({"body": 5, "smart_encoding": "maybe"}, "smart_encoding"),
    ],
)
def test_it_refuses_a_missing_or_oversized_body_with_400(api, data, field):
    response = api.post(URL, data, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert field in response.json()["fields"]


def test_it_needs_a_key_with_the_send_scope(partner_api):
    from rest_framework.test import APIClient

    assert APIClient().post(URL, {"body": "hi"}, format="json").status_code == 401
    assert partner_api(["consent:read"]).post(URL, {"body": "hi"}, format="json").status_code == 403
