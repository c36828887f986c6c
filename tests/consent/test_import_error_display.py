"""Import errors show staff the row and the reason, never a traceback or a server path."""

from __future__ import annotations

import io
import logging

import pytest
from django.conf import settings
from django.urls import reverse

from consent.models import ConsentEvent
from consent.resources import UNEXPECTED_ERROR, ConsentImportResource
from tests.factories import create_program, create_user

pytestmark = pytest.mark.django_db

HEADER = "phone,program,opted_in_at,method,source,user_agent\n"
ROW = "+14155552671,offers,2025-01-15 14:30,web_form,https://acme.example/join,Mozilla/5.0\n"


@pytest.fixture
def compliance(client):
    create_program("offers")
    client.force_login(create_user("carl_compliance", "Compliance"))
    return client


def preview(client, content: str):
    upload = io.BytesIO(content.encode())
    upload.name = "leads.csv"
    url = reverse("admin:consent_consentevent_import")
    page = client.get(url).content.decode()
    csv_index = page[: page.index(">csv<")].rsplit('value="', 1)[1].split('"')[0]
    response = client.post(url, {"resource": "0", "format": csv_index, "import_file": upload})
    assert response.status_code == 200
    return response.content.decode()


def assert_no_traceback(html: str) -> None:
    assert "Traceback" not in html
    assert 'File "' not in html
    assert ".py" not in html
    assert str(settings.BASE_DIR) not in html
    assert "site-packages" not in html


def test_a_file_missing_columns_shows_the_reason_only(compliance):
    html = preview(compliance, "phone,source\n+14155552671,x\n")

    assert "The file has no program, opted_in_at, method column." in html
    assert_no_traceback(html)


def test_an_unexpected_failure_shows_the_row_and_a_plain_reason_and_logs_the_rest(
    compliance, monkeypatch, caplog
):
    def broken(self, plan):
        raise RuntimeError(f"cannot open {settings.BASE_DIR}/consent/secret.py")

    monkeypatch.setattr(ConsentImportResource, "_record", broken)

    with caplog.at_level(logging.ERROR, logger="consent.resources"):
        html = preview(compliance, HEADER + ROW)

    assert UNEXPECTED_ERROR in html
    assert "https://acme.example/join" in html  # the row's values
    assert_no_traceback(html)
    assert "secret.py" in caplog.text  # the traceback went to the log
    assert not ConsentEvent.objects.exists()


def test_a_refused_row_shows_its_values_and_the_reason(compliance):
    html = preview(compliance, HEADER + ROW.replace("+14155552671", "415555"))

    assert "“415555” is not a valid phone number" in html
    assert "https://acme.example/join" in html
    assert_no_traceback(html)
