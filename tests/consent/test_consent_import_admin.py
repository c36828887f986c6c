"""Importing consent in the admin: upload, a background check with a paginated preview,
confirm, a background import with its progress; only for Compliance."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from consent.importing import import_job_run
from consent.models import ConsentEvent, ImportJob, ImportRejectedRow
from tests.factories import compliance_approver, create_program, support_agent

pytestmark = pytest.mark.django_db

CSV = (
    "phone,first_name,program,opted_in_at,method,source\n"
    "(415) 555-2671,Ada,offers,2025-05-01T10:00:00Z,web_form,https://acme.example/join\n"
    "415-555-2672,Bob,offers,2025-05-02T10:00:00Z,paper,Store sheet 12\n"
)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def upload(client, capture, text: str, name: str = "spring-leads.csv"):
    """Upload a file; the check runs (inline) once the request's transaction commits."""
    with capture(execute=True):
        response = client.post(
            reverse("admin:consent_consentevent_import"),
            {"file": SimpleUploadedFile(name, text.encode())},
        )
    return response


def test_compliance_checks_then_confirms_an_import(client, django_capture_on_commit_callbacks):
    create_program("offers")
    client.force_login(compliance_approver())
    assert client.get(reverse("admin:consent_consentevent_import")).status_code == 200

    response = upload(client, django_capture_on_commit_callbacks, CSV)

    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:consent_importjob_change", args=[job.pk])
    assert not ConsentEvent.objects.exists()  # the check writes nothing
    page = client.get(response["Location"]).content.decode()
    assert "Checked: ready to import" in page and "Confirm import of 2 rows" in page
    assert "+14155552671" in page and "spring-leads.csv" in page  # the first rows

    with django_capture_on_commit_callbacks(execute=True):
        confirmed = client.post(response["Location"], {"confirm": "1"})
    assert confirmed.status_code == 302
    sources = sorted(ConsentEvent.objects.values_list("source", flat=True))
    assert sources == ["spring-leads.csv row 2", "spring-leads.csv row 3"]
    assert set(ConsentEvent.objects.values_list("recorded_by__username", flat=True)) == {
        "carl_compliance"
    }
    job.refresh_from_db()
    assert (job.status, job.new_rows, job.processed_rows, job.total_rows) == ("done", 2, 2, 2)
    assert "Done" in client.get(response["Location"]).content.decode()


def test_a_bad_row_is_listed_with_its_number_and_reason_and_only_good_rows_import(
    client, django_capture_on_commit_callbacks
):
    create_program("offers")
    client.force_login(compliance_approver())
    response = upload(
        client,
        django_capture_on_commit_callbacks,
        CSV + "555-01,Eve,offers,2025-05-03T10:00:00Z,api,crm\n",
    )
    page = client.get(response["Location"]).content.decode()
    assert "is not a valid phone number" in page and "<td>4</td>" in page
    assert "Confirm import of 2 rows" in page
    assert not ConsentEvent.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        client.post(response["Location"], {"confirm": "1"})
    assert ConsentEvent.objects.count() == 2
    assert list(ImportRejectedRow.objects.values_list("line", flat=True)) == [4]


def test_the_preview_pages_through_rejected_rows_and_shows_only_the_first_rows(
    client, django_capture_on_commit_callbacks, settings
):
    settings.IMPORT_PREVIEW_ROWS = 3
    create_program("offers")
    bad = "".join(f"415555{n:03d},X,offers,2025-05-03T10:00:00Z,api,crm\n" for n in range(120))
    good = "".join(f"+1415555{3000 + n},X,offers,2025-05-03T10:00:00Z,api,crm\n" for n in range(10))
    client.force_login(compliance_approver())
    response = upload(client, django_capture_on_commit_callbacks, CSV + good + bad)
    job = ImportJob.objects.get()
    assert (job.total_rows, job.checked_new, job.checked_invalid) == (132, 12, 120)

    first = client.get(response["Location"]).content.decode()
    assert len(job.preview) == 3 and "+14155553000" in first  # rows 2-4 only
    assert "+14155553001" not in first
    assert first.count('class="reason"') == 50 and 'href="?p=2"' in first
    third = client.get(response["Location"] + "?p=3").content.decode()
    assert third.count('class="reason"') == 20 and 'href="?p=4"' not in third


def test_a_file_that_cannot_be_read_fails_with_its_reason(
    client, django_capture_on_commit_callbacks
):
    client.force_login(compliance_approver())
    response = upload(client, django_capture_on_commit_callbacks, "phone,program\n1,2\n")
    page = client.get(response["Location"]).content.decode()
    assert "Failed" in page and "no opted_in_at, method, source column" in page
    assert "Confirm import" not in page
    assert not ConsentEvent.objects.exists()


def test_a_confirmed_import_is_not_confirmed_twice(client, django_capture_on_commit_callbacks):
    create_program("offers")
    client.force_login(compliance_approver())
    response = upload(client, django_capture_on_commit_callbacks, CSV)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(response["Location"], {"confirm": "1"})
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        again = client.post(response["Location"], {"confirm": "1"}, follow=True)
    assert callbacks == []  # nothing queued
    assert "already confirmed" in again.content.decode()
    assert ConsentEvent.objects.count() == 2


def test_a_resumed_import_continues_after_its_last_committed_batch(
    client, django_capture_on_commit_callbacks, settings
):
    """A worker died after the first batch committed: the retried task imports the rest once."""
    settings.IMPORT_BATCH_ROWS = 1
    create_program("offers")
    client.force_login(compliance_approver())
    response = upload(client, django_capture_on_commit_callbacks, CSV)
    job = ImportJob.objects.get()
    client.post(response["Location"], {"confirm": "1"})  # queued, not run
    ImportJob.objects.filter(pk=job.pk).update(processed_rows=1, new_rows=1)  # batch 1 counted
    # ... and its row recorded, as the dead worker's committed batch would have.
    import_job_run(job_id=job.pk)

    job.refresh_from_db()
    assert (job.status, job.processed_rows) == ("done", 2)
    assert list(ConsentEvent.objects.values_list("source", flat=True)) == ["spring-leads.csv row 3"]


def test_a_redelivered_task_leaves_a_job_another_worker_holds(
    client, django_capture_on_commit_callbacks
):
    create_program("offers")
    client.force_login(compliance_approver())
    response = upload(client, django_capture_on_commit_callbacks, CSV)
    client.post(response["Location"], {"confirm": "1"})
    job = ImportJob.objects.get()
    from django.utils import timezone

    ImportJob.objects.filter(pk=job.pk).update(
        lease_expires_at=timezone.now() + timezone.timedelta(minutes=1)
    )
    assert import_job_run(job_id=job.pk) == "not claimed"
    assert not ConsentEvent.objects.exists()


def test_support_cannot_import(client):
    client.force_login(support_agent())
    assert client.get(reverse("admin:consent_consentevent_import")).status_code == 403
    changelist = client.get(reverse("admin:consent_consentevent_changelist"))
    assert "Import…" not in changelist.content.decode()
    assert client.get(reverse("admin:consent_importjob_changelist")).status_code == 403
