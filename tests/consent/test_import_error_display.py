"""Import errors show staff the row and the reason, never a traceback or a server path."""

from __future__ import annotations

import logging

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from consent import importing
from consent.models import ConsentEvent
from consent.resources import UNEXPECTED_ERROR
from tests.factories import compliance_approver, create_program

pytestmark = pytest.mark.django_db

HEADER = "phone,program,opted_in_at,method,source,user_agent\n"
ROW = "+14155552671,offers,2025-01-15 14:30,web_form,https://acme.example/join,Mozilla/5.0\n"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def compliance(client):
    create_program("offers")
    client.force_login(compliance_approver())
    return client


def check(client, capture, content: str) -> str:
    """Upload a file; the check runs inline once the request commits; the job page's HTML."""
    with capture(execute=True):
        response = client.post(
            reverse("admin:consent_consentevent_import"),
            {"file": SimpleUploadedFile("leads.csv", content.encode())},
        )
    return client.get(response["Location"]).content.decode()


def assert_no_traceback(html: str) -> None:
    assert "Traceback" not in html
    assert 'File "' not in html
    assert ".py" not in html
    assert str(settings.BASE_DIR) not in html
    assert "site-packages" not in html


def test_a_file_missing_columns_shows_the_reason_only(
    compliance, django_capture_on_commit_callbacks
):
    html = check(compliance, django_capture_on_commit_callbacks, "phone,source\n+14155552671,x\n")

    assert "no program, opted_in_at, method column" in html
    assert_no_traceback(html)


def test_an_unexpected_failure_shows_a_plain_reason_and_logs_the_rest(
    compliance, django_capture_on_commit_callbacks, monkeypatch, caplog
):
    def broken(*args, **kwargs):
        raise RuntimeError(f"cannot open {settings.BASE_DIR}/consent/secret.py")

    monkeypatch.setattr(importing.BatchImport, "run", broken)

    with caplog.at_level(logging.ERROR, logger="consent.importing"):
        try:
            html = check(compliance, django_capture_on_commit_callbacks, HEADER + ROW)
        except RuntimeError:
            html = compliance.get(reverse("admin:consent_importjob_changelist")).content.decode()
            job = importing.ImportJob.objects.get()
            html = compliance.get(
                reverse("admin:consent_importjob_change", args=[job.pk])
            ).content.decode()

    assert UNEXPECTED_ERROR in html
    assert_no_traceback(html)
    assert "secret.py" in caplog.text  # the traceback went to the log
    assert not ConsentEvent.objects.exists()


def test_a_refused_row_shows_its_values_and_the_reason(
    compliance, django_capture_on_commit_callbacks
):
    html = check(
        compliance,
        django_capture_on_commit_callbacks,
        HEADER + ROW.replace("+14155552671", "415555"),
    )

    assert "is not a valid phone number" in html
    assert "415555" in html
    assert_no_traceback(html)
