"""No exported value can become a live spreadsheet formula, whatever control characters lead it.

The probe's case: ``"\\x01=HYPERLINK(...)"`` (an API opt-out's source, a support note, an
import's user agent). Control characters are removed before formulas are escaped, in every
path that writes a spreadsheet cell: the row-by-row CSV and XLSX writers, PostgreSQL's COPY,
the partner API's opt-out export and the admin's download. JSON keeps values exact.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pytest
from django.urls import reverse
from import_export.formats.base_formats import CSV
from openpyxl import load_workbook

from consent import exports, services
from consent.exports import spreadsheet_text, stream_export
from consent.models import ConsentEvent
from consent.resources import ConsentImportResource
from tests.factories import create_contact, create_program, create_user

pytestmark = pytest.mark.django_db

PAYLOAD = 'HYPERLINK("http://evil.example","click")'
LEADS = ("=", "+", "-", "@", "\t=", "\r=")
CONTROLS = [chr(c) for c in [*range(0x00, 0x20), 0x7F]]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")
APRIL = datetime(2025, 4, 2, 8, 15, tzinfo=UTC)


def storable_controls() -> list[str]:
    # PostgreSQL cannot store NUL, and SQLite's JSON functions cut a string at one; the pure
    # `spreadsheet_text` test and the import test cover it.
    return CONTROLS[1:]


def attacks(controls: list[str]) -> list[str]:
    return [control + lead + PAYLOAD for control in controls for lead in LEADS]


def is_e164(value: str) -> bool:
    return value.startswith("+") and value[1:].isdigit()


def assert_no_formula(value: str) -> None:
    if not is_e164(value):
        assert not value.startswith(FORMULA_STARTS), repr(value)


@pytest.mark.parametrize("control", CONTROLS, ids=lambda c: f"U+{ord(c):04X}")
@pytest.mark.parametrize("lead", LEADS, ids=repr)
def test_it_escapes_a_formula_behind_any_leading_control_character(control, lead):
    cell = spreadsheet_text(control + lead + PAYLOAD)

    assert cell.startswith("'")
    assert cell[1:].lstrip("\t\r\n").startswith(lead.lstrip("\t\r"))
    assert all(c not in cell for c in CONTROLS if c not in "\t\n\r")


@pytest.fixture
def hostile_records() -> list[str]:
    """Each control character before each lead, spread over an opt-in's user agent and an
    opt-out's source, note and raw text (two people per control character). Returns the values."""
    offers = create_program("offers")
    values = []
    for n, control in enumerate(storable_controls()):
        for half in (0, 1):
            user_agent, source, note, raw_text = (
                control + LEADS[(half * 4 + i) % len(LEADS)] + PAYLOAD for i in range(4)
            )
            contact = create_contact(f"+1415555{n:02d}{half}0")
            services.consent_opt_in(
                contact=contact,
                program=offers,
                method="web_form",
                source="https://acme.example/join",
                occurred_at=APRIL,
                evidence={"user_agent": user_agent},
            )
            services.consent_revoke(
                contact=contact,
                programs=[offers],
                method="agent",
                source=source,
                note=note,
                occurred_at=APRIL,
                evidence={"raw_text": raw_text},
            )
            values += [user_agent, source, note, raw_text]
    assert set(values) == set(attacks(storable_controls()))  # every pair is there
    return values


def csv_cells(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode(), newline="")))


@pytest.mark.parametrize("kind", exports.EXPORT_KINDS)
def test_no_csv_cell_starts_a_formula(hostile_records, kind):
    rows = exports.export_queryset(kind)
    outputs = [b"".join(stream_export(kind, "csv"))]
    outputs.append(b"".join(exports._csv_chunks(rows, exports.COLUMNS[kind])))
    for data in outputs:
        header, *cells = csv_cells(data)
        assert cells or kind == "suppressions"
        for row in cells:
            for value in row:
                assert_no_formula(value)
                assert not any(c in value for c in CONTROLS if c not in "\t\n\r")
    if kind == "opt-outs":
        header, *cells = csv_cells(outputs[0])
        sources = [dict(zip(header, row, strict=True))["source"] for row in cells]
        assert len(sources) == 2 * len(storable_controls())
        assert all(s.startswith("'") for s in sources)


@pytest.mark.parametrize("kind", ["consent", "opt-outs"])
def test_no_xlsx_cell_is_a_formula(hostile_records, kind):
    data = b"".join(stream_export(kind, "xlsx"))

    sheet = load_workbook(io.BytesIO(data)).worksheets[0]
    cells = [cell for row in sheet.iter_rows(min_row=2) for cell in row]
    for cell in cells:
        assert cell.data_type != "f", cell.value
        if isinstance(cell.value, str):
            assert_no_formula(cell.value)
    escaped = [c.value for c in cells if isinstance(c.value, str) and c.value.startswith("'")]
    # the source and raw text of each opt-out, and (consent) its note and the opt-in's user agent
    assert len(escaped) == len(hostile_records) // (2 if kind == "opt-outs" else 1)


def test_json_keeps_every_value_exact(hostile_records):
    objects = json.loads(b"".join(stream_export("opt-outs", "json")))

    stored = ConsentEvent.objects.filter(kind="opt_out")
    assert sorted(o["source"] for o in objects) == sorted(stored.values_list("source", flat=True))
    assert sorted(o["raw_text"] for o in objects) == sorted(hostile_records[3::4])
    assert all(o["raw_text"][0] in CONTROLS for o in objects)


def test_the_partner_api_export_escapes_an_api_opt_outs_source(partner_api):
    create_program("offers")
    writer = partner_api(["consent:write", "exports:read"])
    sent = attacks(CONTROLS[1:])  # a NUL is refused with a 400 by the API's own checks
    for n, attack in enumerate(sent):
        body = {"phone": f"+1415555{n:04d}", "program": "offers", "method": "api"}
        response = writer.post(
            "/api/v1/opt-outs/", body | {"source": attack, "text": attack}, format="json"
        )
        assert response.status_code == 201, response.json()

    response = writer.get("/api/v1/exports/opt-outs/")

    header, *cells = csv_cells(b"".join(response.streaming_content))
    assert len(cells) == len(sent)
    for row in cells:
        for value in row:
            assert_no_formula(value)
        record = dict(zip(header, row, strict=True))
        assert record["source"].startswith("'") and record["raw_text"].startswith("'")


@pytest.mark.parametrize("fmt", exports.EXPORT_FORMATS)
def test_the_admin_download_escapes_a_support_note_in_every_format(client, fmt):
    offers = create_program("offers")
    agent = create_user("sam_support", "Support")
    for n, control in enumerate(storable_controls()):
        services.consent_revoke(
            contact=create_contact(f"+1415555{n:04d}"),
            programs=[offers],
            method="agent",
            source="phone call",
            note=f'{control}=HYPERLINK("http://evil.example")',
            recorded_by=agent,
        )
    client.force_login(create_user("carl", "Compliance"))

    response = client.get(
        reverse("admin:consent_consentevent_export"), {"kind": "consent", "format": fmt}
    )

    data = b"".join(response.streaming_content)
    if fmt == "json":
        notes = sorted(o["note"] for o in json.loads(data))
        assert notes == sorted(f'{c}=HYPERLINK("http://evil.example")' for c in storable_controls())
    elif fmt == "csv":
        header, *cells = csv_cells(data)
        notes = [dict(zip(header, row, strict=True))["note"] for row in cells]
        assert len(notes) == len(storable_controls())
        assert {n[0] for n in notes} == {"'"}
        assert {n[1:].lstrip("\t\r\n") for n in notes} == {'=HYPERLINK("http://evil.example")'}
        for row in cells:
            for value in row:
                assert_no_formula(value)
    else:
        sheet = load_workbook(io.BytesIO(data)).worksheets[0]
        for row in sheet.iter_rows(min_row=2):
            for cell in row:
                assert cell.data_type != "f", cell.value
                if isinstance(cell.value, str):
                    assert_no_formula(cell.value)


def test_an_imports_user_agent_and_source_never_become_formulas(client):
    create_program("offers")
    rows = attacks(CONTROLS)  # NUL included: the import drops control characters
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["phone", "program", "opted_in_at", "method", "source", "user_agent"])
    for n, attack in enumerate(rows):
        writer.writerow(
            [f"+1415555{n:04d}", "offers", "2025-01-15 14:30", "web_form", attack, attack]
        )

    def import_file(dry_run: bool):
        dataset = CSV().create_dataset(out.getvalue())
        return ConsentImportResource().import_data(dataset, dry_run=dry_run, file_name="x.csv")

    preview = import_file(dry_run=True)

    assert not preview.has_errors() and not preview.has_validation_errors()
    assert preview.totals["new"] == len(rows)
    shown = [value for row in preview.rows for value in row.diff if isinstance(value, str)]
    assert shown and not any(c in v for v in shown for c in CONTROLS if c not in "\t\n\r")
    assert not ConsentEvent.objects.exists()

    import_file(dry_run=False)

    user_agents = ConsentEvent.objects.values_list("evidence__user_agent", flat=True)
    assert not any(c in ua for ua in user_agents for c in CONTROLS if c not in "\t\n\r")
    data = b"".join(stream_export("consent", "xlsx"))
    sheet = load_workbook(io.BytesIO(data)).worksheets[0]
    header = [c.value for c in sheet[1]]
    for row in sheet.iter_rows(min_row=2):
        for cell in row:
            assert cell.data_type != "f", cell.value
            if isinstance(cell.value, str):
                assert_no_formula(cell.value)
        assert row[header.index("user_agent")].value.startswith("'")
