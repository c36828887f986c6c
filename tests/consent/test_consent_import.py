"""Importing contacts with consent from CSV/XLSX: good rows through the service, bad rows named."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
import tablib
from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.core.management import CommandError, call_command
from django.urls import path, reverse
from import_export.admin import ImportMixin
from import_export.formats.base_formats import CSV, XLSX
from openpyxl import Workbook

from consent import resources, services
from consent.management.commands import import_consent
from consent.models import (
    ConsentEvent,
    ConsentState,
    ConsentStatus,
    Contact,
    Disclosure,
)
from consent.resources import ConsentBatchImportResource, ConsentImportResource
from tests.factories import create_contact, create_program, create_user

pytestmark = pytest.mark.django_db

HEADER = [
    "phone",
    "first_name",
    "last_name",
    "email",
    "program",
    "opted_in_at",
    "method",
    "source",
    "disclosure_version",
    "ip",
    "user_agent",
]


def good_row(phone: str = "+14155552671", **changes: str) -> dict[str, str]:
    row = {
        "phone": phone,
        "first_name": "Ann",
        "last_name": "Lee",
        "email": "ann@example.com",
        "program": "offers",
        "opted_in_at": "2025-01-15 14:30",
        "method": "web_form",
        "source": "https://acme.example/join",
        "disclosure_version": "1",
        "ip": "203.0.113.9",
        "user_agent": "Mozilla/5.0",
    }
    return row | changes


def csv_text(rows: list[dict[str, str]], header: list[str] = HEADER) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def run_import(rows, *, dry_run=False, file_name="leads.csv", resource=ConsentImportResource):
    dataset = CSV().create_dataset(csv_text(rows))
    return resource().import_data(dataset, dry_run=dry_run, file_name=file_name)


def reasons(result) -> dict[int, dict[str, list[str]]]:
    return {row.number: row.error_dict for row in result.invalid_rows}


@pytest.fixture
def program():
    return create_program("offers")


def test_it_records_good_rows_as_import_events_with_file_and_row_as_source(program):
    result = run_import([good_row(), good_row("(415) 555-2672", first_name="Bo", email="")])

    assert result.totals["new"] == 2
    assert not result.invalid_rows and not result.has_errors()
    first, second = ConsentEvent.objects.order_by("id")
    assert (first.method, first.source) == ("import", "leads.csv row 2")
    assert (second.method, second.source) == ("import", "leads.csv row 3")
    assert first.phone == "+14155552671"
    assert second.phone == "+14155552672"
    assert first.occurred_at == datetime(2025, 1, 15, 14, 30, tzinfo=UTC)
    assert first.disclosure == Disclosure.objects.get(program=program, version=1)
    assert first.disclosure_hash == first.disclosure.text_hash
    assert first.idempotency_key and len(first.idempotency_key) == 64
    assert first.evidence["original_method"] == "web_form"
    assert first.evidence["original_source"] == "https://acme.example/join"
    assert first.evidence["ip"] == "203.0.113.9"
    assert first.evidence["user_agent"] == "Mozilla/5.0"
    contact = first.contact
    assert (contact.first_name, contact.last_name, contact.email) == (
        "Ann",
        "Lee",
        "ann@example.com",
    )
    assert ConsentState.objects.get(contact=contact).status == ConsentStatus.OPTED_IN


def test_it_fills_a_contacts_name_and_email_only_where_blank(program):
    contact = create_contact(phone="+14155552671", first_name="Annabel")
    rows = [{"phone": "415-555-2671", "name": "Ann Marie Lee", "email": "ann@example.com"}]
    for row in rows:
        row |= {k: v for k, v in good_row().items() if k not in ("first_name", "last_name")}
        row["email"] = "ann@example.com"
    header = [*HEADER, "name"]
    dataset = CSV().create_dataset(
        csv_text([{**r, "first_name": "", "last_name": ""} for r in rows], header)
    )

    ConsentImportResource().import_data(dataset, file_name="crm.csv")

    contact.refresh_from_db()
    assert contact.first_name == "Annabel"  # kept: it was not blank
    assert contact.last_name == "Marie Lee"  # from "name", split after the first word
    assert contact.email == "ann@example.com"
    assert Contact.objects.count() == 1


@pytest.mark.parametrize(
    ("changes", "column", "reason"),
    [
        ({"program": ""}, "program", "Required: the program's slug"),
        ({"program": "nope"}, "program", "No program “nope” (programs: offers)"),
        ({"opted_in_at": ""}, "opted_in_at", "Required: when the person opted in"),
        ({"opted_in_at": "15/01/2025"}, "opted_in_at", "“15/01/2025” is not a date and time"),
        ({"opted_in_at": "2025-02-30 10:00"}, "opted_in_at", "is not a date and time"),
        ({"opted_in_at": "2999-01-01"}, "opted_in_at", "is in the future"),
        ({"method": ""}, "method", "Required: how consent was given"),
        ({"method": "carrier pigeon"}, "method", "“carrier pigeon” is not a consent method"),
        ({"source": " "}, "source", "Required: where consent was given"),
        ({"disclosure_version": "7"}, "disclosure_version", "has no disclosure version 7"),
        ({"disclosure_version": "latest"}, "disclosure_version", "is not a version number"),
        ({"phone": "415555"}, "phone", "“415555” is not a valid phone number: it has too few"),
        ({"phone": "415-CALL-NOW"}, "phone", "“415-CALL-NOW” is not a valid phone number"),
        ({"phone": ""}, "phone", "Required: the phone number"),
        ({"email": "ann(at)example"}, "email", "“ann(at)example” is not an e-mail address"),
        ({"ip": "300.1.1.1"}, "ip", "“300.1.1.1” is not an IP address"),
    ],
    ids=lambda value: (
        "-".join(f"{k}={v}" for k, v in value.items()) if isinstance(value, dict) else None
    ),
)
def test_it_rejects_a_bad_row_with_its_number_and_reason_and_writes_nothing_for_it(
    program, changes, column, reason
):
    result = run_import([good_row(), good_row(**({"phone": "+14155552672"} | changes))])

    assert result.totals["new"] == 1
    assert result.totals["invalid"] == 1
    [(number, errors)] = reasons(result).items()
    assert number == 2  # import-export counts data rows; a spreadsheet shows it as row 3
    assert reason in " ".join(errors[column])
    assert ConsentEvent.objects.count() == 1
    assert list(Contact.objects.values_list("phone", flat=True)) == ["+14155552671"]


def test_it_rejects_a_row_for_an_inactive_program(program):
    program.active = False
    program.save(update_fields=["active"])

    result = run_import([good_row()])

    assert "is not active" in " ".join(reasons(result)[1]["program"])
    assert not Contact.objects.exists()


def test_it_lists_every_bad_column_of_a_row(program):
    result = run_import([good_row(program="", method="", source="", phone="12")])

    assert set(reasons(result)[1]) == {"program", "method", "source", "phone"}


def test_it_refuses_a_number_erased_on_request(program):
    contact = create_contact(phone="+14155552671", first_name="Ada")
    services.contact_erase(contact=contact, request_ref="DSR-1")

    result = run_import([good_row(first_name="Ada")])

    assert "legal or privacy request" in reasons(result)[1]["phone"][0]
    assert not Contact.objects.filter(phone="+14155552671").exists()


def test_it_adds_nothing_when_the_same_file_is_imported_twice(program):
    rows = [good_row(), good_row("+14155552672")]
    run_import(rows)
    events = list(ConsentEvent.objects.values_list("id", flat=True))

    again = run_import(rows, file_name="leads (copy).csv")

    assert again.totals["new"] == 0
    assert again.totals["skip"] == 2
    assert list(ConsentEvent.objects.values_list("id", flat=True)) == events


def test_it_treats_a_changed_row_as_a_new_consent(program):
    run_import([good_row()])

    again = run_import([good_row(opted_in_at="2025-02-01 09:00")])

    assert again.totals["new"] == 1
    assert ConsentEvent.objects.count() == 2


@pytest.mark.parametrize("dry_run", [True, False])
def test_it_skips_a_row_repeated_within_the_file(program, dry_run):
    result = run_import([good_row(), good_row()], dry_run=dry_run)

    assert (result.totals["new"], result.totals["skip"]) == (1, 1)


def test_it_writes_nothing_on_a_dry_run_and_previews_what_it_would_do(program):
    result = run_import([good_row(), good_row(program="nope")], dry_run=True)

    assert result.totals["new"] == 1
    assert result.totals["invalid"] == 1
    assert not ConsentEvent.objects.exists()
    assert not Contact.objects.exists()
    assert not ConsentState.objects.exists()
    # The preview shows the row as the service would record it.
    [new_row] = [r for r in result.rows if r.import_type == "new"]
    assert "+14155552671" in new_row.diff[0]
    assert "offers" in " ".join(new_row.diff)


def test_it_reads_xlsx_with_spreadsheet_types(program):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Phone", "Name", "Program", "Opted_in_at", "Method", "Source"])
    sheet.append(
        [4155552671, "Ann Lee", "offers", datetime(2025, 1, 15, 14, 30), "Paper", "form 1"]
    )
    sheet.append([4155552672.0, None, "offers", datetime(2025, 1, 16, 9, 0), "keyword", "JOIN"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    dataset = XLSX().create_dataset(buffer.getvalue())

    result = ConsentBatchImportResource().import_data(dataset, file_name="leads.xlsx")

    assert result.totals["new"] == 2, reasons(result)
    first, second = ConsentEvent.objects.order_by("id")
    assert (first.phone, first.source) == ("+14155552671", "leads.xlsx row 2")
    assert first.evidence["original_method"] == "paper"  # the label "Paper" is read too
    assert first.occurred_at == datetime(2025, 1, 15, 14, 30, tzinfo=UTC)
    assert (first.contact.first_name, first.contact.last_name) == ("Ann", "Lee")
    assert second.phone == "+14155552672"


def test_it_reports_missing_columns_and_records_nothing(program):
    dataset = tablib.Dataset(["+14155552671", "offers"], headers=["phone", "program"])

    result = ConsentImportResource().import_data(dataset, file_name="bad.csv")

    assert "no opted_in_at, method, source column" in str(result.base_errors[0].error)
    assert not ConsentEvent.objects.exists()


def test_it_keeps_a_double_opt_in_program_pending_after_import():
    create_program("offers", double_opt_in=True)

    run_import([good_row()])

    assert ConsentState.objects.get().status == ConsentStatus.PENDING


def test_it_names_the_source_from_a_label_when_there_is_no_file(program):
    dataset = CSV().create_dataset(csv_text([good_row()]))

    ConsentImportResource(source_label="crm sync 2025-01").import_data(dataset)

    assert ConsentEvent.objects.get().source == "crm sync 2025-01 row 2"


# --- the management command -----------------------------------------------------------------


def test_the_command_prints_totals_and_rejected_rows(program, tmp_path):
    file = tmp_path / "leads.csv"
    file.write_text(csv_text([good_row(), good_row("415555"), good_row("+14155552673")]))
    out = io.StringIO()

    call_command("import_consent", str(file), stdout=out)

    text = out.getvalue()
    assert "leads.csv: 3 rows: 2 new, 0 skipped (already imported), 1 invalid" in text
    assert "row 3: phone: “415555” is not a valid phone number: it has too few digits" in text
    assert ConsentEvent.objects.filter(source="leads.csv row 4").exists()

    out = io.StringIO()
    call_command("import_consent", str(file), stdout=out)
    assert "0 new, 2 skipped" in out.getvalue()


@pytest.mark.parametrize("dry_run", [True, False])
def test_the_command_numbers_rows_as_in_the_file_across_slices_and_blank_rows(
    program, tmp_path, monkeypatch, dry_run
):
    monkeypatch.setattr(import_consent, "CHUNK_ROWS", 2)
    lines = csv_text(
        [good_row(), good_row("+14155552672"), good_row("415555"), good_row(), good_row("12")]
    ).splitlines()
    lines.insert(3, ",,,,,,,,,,")  # a blank row 4 in a spreadsheet
    file = tmp_path / "leads.csv"
    file.write_text("\n".join(lines) + "\n")
    out = io.StringIO()

    call_command("import_consent", str(file), *(["--dry-run"] if dry_run else []), stdout=out)

    text = out.getvalue()
    assert "row 5: phone: “415555” is not a valid phone number" in text
    assert "row 7: phone: “12” is not a valid phone number" in text
    # Row 6 repeats row 2 in another slice: skipped, in a dry run too.
    assert "5 rows: 2 new, 1 skipped (already imported), 2 invalid" in text
    if not dry_run:
        sources = set(ConsentEvent.objects.values_list("source", flat=True))
        assert sources == {"leads.csv row 2", "leads.csv row 3"}


def test_the_command_reads_xlsx(program, tmp_path):
    workbook = Workbook()
    workbook.active.append(["phone", "program", "opted_in_at", "method", "source"])
    workbook.active.append(["+14155552671", "offers", datetime(2025, 1, 15, 9), "paper", "form"])
    workbook.active.append([None, None, None, None, None])
    workbook.active.append(["+14155552672", "offers", "2025-01-16", "paper", "form 2"])
    workbook.save(tmp_path / "leads.xlsx")
    out = io.StringIO()

    call_command("import_consent", str(tmp_path / "leads.xlsx"), stdout=out)

    assert "2 rows: 2 new" in out.getvalue()
    sources = set(ConsentEvent.objects.values_list("source", flat=True))
    assert sources == {"leads.xlsx row 2", "leads.xlsx row 4"}


def test_the_command_dry_run_writes_nothing(program, tmp_path):
    file = tmp_path / "leads.csv"
    file.write_text(csv_text([good_row()]))
    out = io.StringIO()

    call_command("import_consent", str(file), "--dry-run", stdout=out)

    assert "1 new" in out.getvalue()
    assert "dry run: nothing written" in out.getvalue()
    assert not ConsentEvent.objects.exists()


def test_the_command_records_the_user(program, tmp_path):
    user = create_user("carl_compliance")
    file = tmp_path / "leads.csv"
    file.write_text(csv_text([good_row()]))

    call_command("import_consent", str(file), "--user", "carl_compliance", stdout=io.StringIO())

    event = ConsentEvent.objects.get()
    assert event.recorded_by == user
    assert event.recorded_by_label == "import_consent"


def test_the_command_refuses_unreadable_input(program, tmp_path):
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("import_consent", str(tmp_path / "missing.csv"))
    (tmp_path / "leads.txt").write_text("phone\n")
    with pytest.raises(CommandError, match="give --format csv or xlsx"):
        call_command("import_consent", str(tmp_path / "leads.txt"))
    (tmp_path / "short.csv").write_text("phone,program\n+14155552671,offers\n")
    with pytest.raises(CommandError, match="no opted_in_at, method, source column"):
        call_command("import_consent", str(tmp_path / "short.csv"), stdout=io.StringIO())
    (tmp_path / "wide.csv").write_text(csv_text([good_row()]).rstrip() + ",surprise\n")
    with pytest.raises(CommandError, match="Row 2 has more cells than the header row"):
        call_command("import_consent", str(tmp_path / "wide.csv"), stdout=io.StringIO())
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(CommandError, match=r"empty\.csv is empty"):
        call_command("import_consent", str(tmp_path / "empty.csv"), stdout=io.StringIO())
    (tmp_path / "broken.xlsx").write_bytes(b"not a zip")
    with pytest.raises(CommandError, match=r"Cannot read broken\.xlsx as XLSX"):
        call_command("import_consent", str(tmp_path / "broken.xlsx"), stdout=io.StringIO())
    assert not ConsentEvent.objects.exists()


# --- the admin's import flow (ImportMixin: preview, then confirm) ------------------------------


class ImportingAdmin(ImportMixin, admin.ModelAdmin):
    resource_classes = [ConsentImportResource]


import_site = admin.AdminSite(name="import_test")
import_site.register(ConsentEvent, ImportingAdmin)
urlpatterns = [path("import-test/", import_site.urls)]


def csv_format_index() -> str:
    formats = ImportingAdmin(ConsentEvent, import_site).get_import_formats()
    return str(next(i for i, f in enumerate(formats) if f().get_title() == "csv"))


@pytest.mark.urls(__name__)
def test_it_previews_then_confirms_in_the_admin_import(program, client):
    user = create_user("carl_compliance", superuser=True)
    client.force_login(user)
    upload = io.BytesIO(csv_text([good_row(), good_row("+14155552672")]).encode())
    upload.name = "spring-leads.csv"

    preview = client.post(
        reverse("admin:consent_consentevent_import", current_app="import_test"),
        {"resource": "0", "format": csv_format_index(), "import_file": upload},
    )

    assert preview.status_code == 200
    assert preview.context["result"].totals["new"] == 2
    assert not ConsentEvent.objects.exists()  # the preview writes nothing
    confirm = preview.context["confirm_form"]
    assert confirm.initial["original_file_name"] == "spring-leads.csv"

    done = client.post(
        reverse("admin:consent_consentevent_process_import", current_app="import_test"),
        confirm.initial,
    )

    assert done.status_code == 302
    events = ConsentEvent.objects.order_by("id")
    assert [e.source for e in events] == ["spring-leads.csv row 2", "spring-leads.csv row 3"]
    assert {e.recorded_by for e in events} == {user}
    assert LogEntry.objects.filter(object_id__in=[str(e.pk) for e in events]).count() == 2


@pytest.mark.urls(__name__)
def test_it_shows_bad_rows_in_the_admin_preview_and_offers_no_confirm(program, client):
    client.force_login(create_user("carl_compliance", superuser=True))
    upload = io.BytesIO(csv_text([good_row(), good_row("415555")]).encode())
    upload.name = "leads.csv"

    preview = client.post(
        reverse("admin:consent_consentevent_import", current_app="import_test"),
        {"resource": "0", "format": csv_format_index(), "import_file": upload},
    )

    assert "“415555” is not a valid phone number" in preview.content.decode()
    assert "confirm_form" not in preview.context
    assert not ConsentEvent.objects.exists()


def test_it_reads_each_distinct_phone_cell_once_and_refuses_each_repeat_alike(program, monkeypatch):
    calls: list[object] = []

    def counting(raw, region=None):
        calls.append(raw)
        return normalize(raw, region)

    normalize = resources.normalize_phone
    monkeypatch.setattr(resources, "normalize_phone", counting)
    create_program("alerts")
    rows = [
        good_row("(415) 555-2671"),
        good_row("(415) 555-2671", program="alerts"),
        good_row("415555"),
        good_row("415555", program="alerts"),
    ]

    result = run_import(rows)

    assert sorted(calls) == ["(415) 555-2671", "415555"]
    assert result.totals["new"] == 2
    bad = reasons(result)
    assert bad[3]["phone"] == bad[4]["phone"] and "not a valid phone number" in bad[3]["phone"][0]
