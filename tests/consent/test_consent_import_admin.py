"""Importing consent in the admin: upload, dry-run preview, confirm; only for Compliance."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from consent.models import ConsentEvent
from tests.factories import compliance_approver, create_program, support_agent

pytestmark = pytest.mark.django_db

CSV = (
    "phone,first_name,program,opted_in_at,method,source\n"
    "(415) 555-2671,Ada,offers,2025-05-01T10:00:00Z,web_form,https://acme.example/join\n"
    "415-555-2672,Bob,offers,2025-05-02T10:00:00Z,paper,Store sheet 12\n"
)


def upload(client, text: str, name: str = "spring-leads.csv"):
    return client.post(
        reverse("admin:consent_consentevent_import"),
        {"import_file": SimpleUploadedFile(name, text.encode()), "format": "0", "resource": "0"},
    )


def test_compliance_previews_then_confirms_an_import(client):
    create_program("offers")
    client.force_login(compliance_approver())
    assert client.get(reverse("admin:consent_consentevent_import")).status_code == 200
    preview = upload(client, CSV)
    html = preview.content.decode()
    assert preview.status_code == 200 and "Confirm import" in html
    assert not ConsentEvent.objects.exists()  # the preview writes nothing
    hidden = dict(re.findall(r'name="(\w+)" value="([^"]*)"', html))
    fields = {k: hidden[k] for k in ("import_file_name", "original_file_name", "format")}
    fields["resource"] = hidden.get("resource", "0")
    response = client.post(reverse("admin:consent_consentevent_process_import"), fields)
    assert response.status_code == 302
    sources = sorted(ConsentEvent.objects.values_list("source", flat=True))
    assert sources == ["spring-leads.csv row 2", "spring-leads.csv row 3"]
    assert set(ConsentEvent.objects.values_list("method", flat=True)) == {"import"}


def test_a_bad_row_is_reported_with_its_number_and_nothing_is_confirmed(client):
    create_program("offers")
    client.force_login(compliance_approver())
    html = upload(client, CSV + "555-01,Eve,offers,2025-05-03T10:00:00Z,api,crm\n").content
    text = html.decode()
    assert "555-01" in text and "is not a valid phone number" in text
    assert "Confirm import" not in text
    assert not ConsentEvent.objects.exists()


def test_support_cannot_import(client):
    client.force_login(support_agent())
    assert client.get(reverse("admin:consent_consentevent_import")).status_code == 403
    changelist = client.get(reverse("admin:consent_consentevent_changelist"))
    assert "Import…" not in changelist.content.decode()
