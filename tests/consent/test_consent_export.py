"""Streaming exports of the ledger, the opt-out log and suppressions (CSV, XLSX, JSON)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from openpyxl import load_workbook

from consent import exports, services
from consent.exports import COLUMNS, escape_formula, stream_export
from consent.models import ConsentConfirmation, ConsentEvent, Disclosure, Suppression
from tests.factories import create_contact, create_program, create_user, opt_in

pytestmark = pytest.mark.django_db

MARCH = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
APRIL = datetime(2025, 4, 2, 8, 15, 30, tzinfo=UTC)
MAY = datetime(2025, 5, 3, 9, 0, tzinfo=UTC)
INJECTION = '=HYPERLINK("http://evil.example","click")'


def read(kind: str, fmt: str, **options) -> tuple[list[str], list[dict]]:
    """Headers and rows of an export, every value as the text a spreadsheet user would see."""
    data = b"".join(stream_export(kind, fmt, **options))
    if fmt == "csv":
        header, *rows = list(csv.reader(io.StringIO(data.decode())))
        return header, [dict(zip(header, row, strict=True)) for row in rows]
    if fmt == "json":
        objects = json.loads(data)
        header = list(objects[0]) if objects else []  # JSON has no header row
        return header, [{k: _shown(v) for k, v in o.items()} for o in objects]
    sheet = load_workbook(io.BytesIO(data), read_only=True).worksheets[0]
    header, *rows = [[_shown(v) for v in row] for row in sheet.iter_rows(values_only=True)]
    return header, [dict(zip(header, row, strict=True)) for row in rows]


def _shown(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):  # XLSX holds naive UTC date-times
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


@pytest.fixture
def records():
    """An opt-in, an opt-out with its confirmation, and suppressions (one of an erased number)."""
    offers = create_program("offers")
    alerts = create_program("alerts")
    # The factory's disclosures take effect a year before today; these records are older.
    Disclosure.objects.update(effective_at=datetime(2024, 1, 1, tzinfo=UTC))
    agent = create_user("sam_support")
    ann = create_contact(phone="+14155552671")
    opt_in(ann, offers, at=MARCH)
    [revoked] = services.consent_revoke(
        contact=ann,
        programs=[offers],
        method="keyword",
        source="STOP to 12345",
        occurred_at=APRIL,
        evidence={"raw_text": INJECTION, "provider_message_id": "SM123"},
        note="-2+3",
        recorded_by=agent,
    )
    ConsentConfirmation.objects.create(event=revoked.event, sent_at=APRIL, message_ref="SM124")
    bob = create_contact(phone="+14155552672")
    opt_in(bob, alerts, at=MAY)
    services.suppression_add(phone="+14155552673", reason="complaint", program=alerts, note="@x")
    erased = create_contact(phone="+14155552674")
    services.contact_erase(contact=erased, by=agent, request_ref="DSR-9")
    return {"offers": offers, "alerts": alerts, "revoked": revoked.event, "agent": agent}


@pytest.mark.parametrize("fmt", exports.EXPORT_FORMATS)
def test_it_exports_the_ledger_with_full_provenance(records, fmt):
    header, rows = read("consent", fmt)

    assert header == [c.name for c in exports.CONSENT_COLUMNS]
    assert [(r["phone"], r["program"], r["kind"]) for r in rows] == [
        ("+14155552671", "offers", "opt_in"),
        ("+14155552671", "offers", "opt_out"),
        ("+14155552672", "alerts", "opt_in"),
    ]
    opt_in_row, opt_out_row, _ = rows
    disclosure = records["offers"].disclosures.get()
    assert opt_in_row["resulting_status"] == "opted_in"
    assert opt_in_row["method"] == "web_form"
    assert opt_in_row["source"] == "https://acme.example/join"
    assert opt_in_row["disclosure_version"] == "1"
    assert opt_in_row["disclosure_hash"] == disclosure.text_hash
    assert opt_in_row["disclosure_text"] == disclosure.text
    assert opt_in_row["occurred_at"] == "2025-03-01T12:00:00Z"
    assert opt_in_row["ip"] == "203.0.113.7"
    assert opt_in_row["user_agent"] == "Mozilla/5.0"
    assert opt_out_row["occurred_at"] == "2025-04-02T08:15:30Z"
    assert opt_out_row["recorded_by"] == "sam_support"
    assert opt_out_row["provider_message_id"] == "SM123"
    assert opt_out_row["disclosure_version"] == ""
    event = records["revoked"]
    assert opt_out_row["recorded_at"] == event.recorded_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert opt_out_row["event_id"] == str(event.pk)


@pytest.mark.parametrize("fmt", exports.EXPORT_FORMATS)
def test_it_exports_the_opt_out_log(records, fmt):
    header, rows = read("opt-outs", fmt)

    assert header == [c.name for c in exports.OPT_OUT_COLUMNS]
    [row] = rows
    event = records["revoked"]
    assert row["phone"] == "+14155552671"
    assert row["program"] == "offers"
    assert row["opted_out_at"] == "2025-04-02T08:15:30Z"
    assert (row["method"], row["source"]) == ("keyword", "STOP to 12345")
    assert row["processed_at"] == event.recorded_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert row["confirmation_sent_at"] == "2025-04-02T08:15:30Z"
    assert row["confirmation_message_ref"] == "SM124"


@pytest.mark.parametrize("fmt", exports.EXPORT_FORMATS)
def test_it_exports_suppressions_with_erased_numbers_as_erased(records, fmt):
    header, rows = read("suppressions", fmt)

    assert header == [c.name for c in exports.SUPPRESSION_COLUMNS]
    by_reason = {r["reason"]: r for r in rows}
    assert set(by_reason) == {"complaint", "legal_request"}
    complaint, erasure = by_reason["complaint"], by_reason["legal_request"]
    assert (complaint["phone"], complaint["scope"]) == ("+14155552673", "alerts")
    assert (erasure["phone"], erasure["scope"]) == ("erased", "all programs")
    assert erasure["created_by"] == "sam_support"
    assert erasure["note"] == "Erasure request DSR-9"
    assert erasure["lifted_at"] == ""


def test_it_exports_lifts_of_suppressions(records):
    suppression = Suppression.objects.get(reason="complaint")
    services.suppression_lift(suppression=suppression, by=records["agent"], note="resolved")

    _, rows = read("suppressions", "csv")

    lifted = next(r for r in rows if r["reason"] == "complaint")
    assert lifted["lifted_by"] == "sam_support"
    assert lifted["lift_note"] == "resolved"
    assert lifted["lifted_at"].endswith("Z")


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_it_escapes_formulas_in_spreadsheet_formats_but_not_phone_numbers(records, fmt):
    _, rows = read("consent", fmt)

    opt_out = next(r for r in rows if r["kind"] == "opt_out")
    assert opt_out["raw_text"] == "'" + INJECTION
    assert opt_out["note"] == "'-2+3"
    assert opt_out["phone"] == "+14155552671"
    _, suppressions = read("suppressions", fmt)
    assert next(r for r in suppressions if r["reason"] == "complaint")["note"] == "'@x"


def test_it_writes_escaped_cells_as_text_in_xlsx(records):
    data = b"".join(stream_export("opt-outs", "xlsx"))

    sheet = load_workbook(io.BytesIO(data)).worksheets[0]

    raw_text = sheet.cell(row=2, column=7)
    assert raw_text.value == "'" + INJECTION
    assert raw_text.data_type == "s"  # a string, never a formula
    assert sheet.cell(row=2, column=2).value == "+14155552671"
    assert sheet.cell(row=2, column=4).value == datetime(2025, 4, 2, 8, 15, 30)


def test_it_leaves_json_values_exact(records):
    objects = json.loads(b"".join(stream_export("consent", "json")))

    opt_out = next(o for o in objects if o["kind"] == "opt_out")
    assert opt_out["raw_text"] == INJECTION
    assert opt_out["note"] == "-2+3"
    assert opt_out["disclosure_version"] is None
    assert isinstance(opt_out["event_id"], int)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("+14155552671", "+14155552671"),
        ("+442071838750", "+442071838750"),
        ("+1415555267a", "'+1415555267a"),
        ("+0123456789", "'+0123456789"),
        ("STOP", "STOP"),
        ("", ""),
        ("a=b", "a=b"),
    ],
)
def test_it_escapes_values_that_start_a_formula(value, expected):
    assert escape_formula(value) == expected


@pytest.mark.parametrize("fmt", exports.EXPORT_FORMATS)
def test_it_keeps_what_happened_since_a_moment(records, fmt):
    _, rows = read("consent", fmt, since=APRIL)

    assert [r["occurred_at"] for r in rows] == ["2025-04-02T08:15:30Z", "2025-05-03T09:00:00Z"]
    _, none = read("opt-outs", fmt, since=MAY)
    assert none == []


def test_it_filters_suppressions_by_creation_time(records):
    # Suppressions are never rewritten: an old one is created old.
    Suppression.objects.create(phone="+14155552675", reason="landline", created_at=MARCH)

    _, rows = read("suppressions", "csv", since=APRIL)
    _, everything = read("suppressions", "csv")

    assert sorted(r["reason"] for r in rows) == ["complaint", "legal_request"]
    assert "landline" in {r["reason"] for r in everything}


def test_it_keeps_one_programs_rows_and_the_suppressions_that_cover_it(records):
    _, rows = read("consent", "csv", program=records["offers"])
    assert {r["program"] for r in rows} == {"offers"}

    _, suppressions = read("suppressions", "csv", program=records["offers"])
    assert [r["scope"] for r in suppressions] == ["all programs"]


def test_it_narrows_to_a_given_queryset(records):
    # Shaped like an admin changelist's queryset: joins, its own ordering, DISTINCT.
    chosen = (
        ConsentEvent.objects.select_related("program", "contact")
        .filter(phone="+14155552672")
        .order_by("-occurred_at")
        .distinct()
    )

    _, rows = read("consent", "csv", queryset=chosen)

    assert [r["phone"] for r in rows] == ["+14155552672"]
    with pytest.raises(ValueError, match="reads Suppression rows"):
        stream_export("suppressions", "csv", queryset=chosen)


def test_it_refuses_unknown_kinds_formats_and_naive_times():
    with pytest.raises(ValueError, match="“optouts” is not an export"):
        stream_export("optouts", "csv")
    with pytest.raises(ValueError, match="“pdf” is not an export format"):
        stream_export("consent", "pdf")
    with pytest.raises(ValueError, match="needs a time zone"):
        stream_export("consent", "csv", since=datetime(2025, 1, 1))  # naive on purpose


@pytest.mark.parametrize("fmt", exports.EXPORT_FORMATS)
def test_it_exports_an_empty_ledger_as_a_valid_file(fmt):
    header, rows = read("opt-outs", fmt)

    assert rows == []
    if fmt != "json":
        assert header == [c.name for c in exports.OPT_OUT_COLUMNS]


@pytest.mark.parametrize("fmt", exports.EXPORT_FORMATS)
def test_it_streams_in_chunks_of_many_rows(monkeypatch, fmt):
    monkeypatch.setattr(exports, "ROWS_PER_CHUNK", 10)
    monkeypatch.setattr(exports, "CHUNK_BYTES", 2048)
    program = create_program()
    for _ in range(45):
        opt_in(create_contact(), program, at=MARCH)

    chunks = list(stream_export("consent", fmt))

    assert len(chunks) > 1
    assert len(chunks) < 45  # never a chunk per row
    data = b"".join(chunks)
    if fmt == "csv":
        assert len(list(csv.reader(io.StringIO(data.decode())))) == 46
    elif fmt == "json":
        assert len(json.loads(data)) == 45
    else:
        assert load_workbook(io.BytesIO(data)).worksheets[0].max_row == 46


def test_it_names_files_and_content_types():
    at = datetime(2025, 1, 15, 14, 30, tzinfo=UTC)
    assert exports.filename("opt-outs", "csv", at=at) == "opt-outs-20250115-143000.csv"
    assert exports.content_type("csv") == "text/csv; charset=utf-8"
    assert exports.content_type("xlsx").endswith("spreadsheetml.sheet")
    assert exports.content_type("json") == "application/json"


# --- PostgreSQL's COPY path ---------------------------------------------------------------


@pytest.mark.postgres
def test_it_copies_csv_with_the_same_values_as_the_row_by_row_writer(records):
    services.consent_opt_in(
        phone="+14155552675",
        program=records["offers"],
        method="web_form",
        source='https://acme.example/join?a=1,b="2"',
        occurred_at=MAY,
        note='line one\r\nline two, with "quotes"\n\t=tab',
        evidence={"ip": "203.0.113.7", "user_agent": "Ünïcödé 🙂"},
    )
    services.consent_opt_in(
        phone="+14155552676",
        program=records["offers"],
        method="web_form",
        source="\x01\x7f=HYPERLINK(1)",
        occurred_at=MAY,
        note="\x02\x1f@cmd\x03 inside",
        evidence={"user_agent": "\x1b+1 kept\x07"},
    )
    for kind in exports.EXPORT_KINDS:
        rows = exports.export_queryset(kind)
        copied = b"".join(exports._copy_csv(rows, COLUMNS[kind])).decode()
        written = b"".join(exports._csv_chunks(rows, COLUMNS[kind])).decode()
        assert list(csv.reader(io.StringIO(copied))) == list(csv.reader(io.StringIO(written)))
        assert copied != written  # really two paths (line ends differ: "\n" and "\r\n")


@pytest.mark.postgres
def test_it_leaves_the_connection_usable_when_a_copy_is_abandoned(monkeypatch):
    monkeypatch.setattr(exports, "CHUNK_BYTES", 256)
    program = create_program()
    for _ in range(20):
        opt_in(create_contact(), program, at=MARCH)
    chunks = stream_export("consent", "csv")
    next(chunks)

    chunks.close()

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)
    assert ConsentEvent.objects.count() == 20


# --- the management command ---------------------------------------------------------------


def test_the_command_writes_csv_to_stdout(records):
    out = io.StringIO()

    call_command("export_consent", "--kind", "opt-outs", "--since", "2025-01-01", stdout=out)

    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [(r["phone"], r["raw_text"]) for r in rows] == [("+14155552671", "'" + INJECTION)]


def test_the_command_filters_by_since_and_program(records):
    out = io.StringIO()

    call_command(
        "export_consent",
        "--kind=consent",
        "--since=2025-04-01T00:00:00+00:00",
        "--program=alerts",
        "--format=json",
        stdout=out,
    )

    assert [o["phone"] for o in json.loads(out.getvalue())] == ["+14155552672"]


def test_the_command_writes_xlsx_to_a_file(records, tmp_path):
    target = tmp_path / "suppressions.xlsx"

    call_command("export_consent", "--kind=suppressions", "--format=xlsx", f"--output={target}")

    sheet = load_workbook(target).worksheets[0]
    assert [c.value for c in sheet[1]] == [c.name for c in exports.SUPPRESSION_COLUMNS]
    assert sheet.max_row == 3


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--kind=optouts"], "invalid choice: 'optouts'"),
        (["--kind=consent", "--format=pdf"], "invalid choice: 'pdf'"),
        (["--kind=consent", "--since=last week"], "--since “last week” is not a date"),
        (["--kind=consent", "--since=2025-02-30"], "--since “2025-02-30” is not a date"),
        (["--kind=consent", "--program=nope"], "No program “nope”"),
        (["--kind=consent", "--format=xlsx"], "XLSX is a binary file"),
        (["--kind=consent", "--output=/nonexistent/dir/x.csv"], "Cannot write"),
        ([], "the following arguments are required: --kind"),
    ],
)
def test_the_command_explains_bad_arguments(arguments, message):
    with pytest.raises(CommandError, match=message.replace("(", r"\(")):
        call_command("export_consent", *arguments, stdout=io.StringIO())
