"""Streaming exports of the consent records: the ledger, the opt-out log and suppressions.

`stream_export(kind, fmt)` yields the file as chunks of bytes, for a `StreamingHttpResponse`
or a management command; it never holds all rows in memory (rows are read with a server-side
cursor or, for CSV on PostgreSQL, with ``COPY ... TO STDOUT``, ~4x faster: docs/performance.md).

Every format has the same columns and the same values:

- Times are UTC, ISO 8601 to the second (``2025-01-15T14:30:00Z``); XLSX cells hold real
  date-times (in UTC, as Excel has no time zones).
- Spreadsheet formula injection: a CSV or XLSX text cell first loses its leading control
  characters (`config.lib.text.CONTROL_CHARACTERS`: below U+0020 except tab, line feed and carriage
  return, and DEL), then, if it starts with ``= + - @``, a tab, a line feed or a carriage
  return, gets a leading ``'`` so that a spreadsheet shows it as text instead of running it. In
  that order: removing a character must never uncover a formula (``"\x01=HYPERLINK(...)"``).
  XLSX then drops the control characters left inside a value (a worksheet cannot hold them);
  CSV keeps them. A cell that is exactly an E.164 number (``+14155552671``) is left alone: a
  plus and digits cannot call anything, and the number must stay usable. JSON is for programs,
  not spreadsheets, so its values are exact.
- In CSV and XLSX an empty value and a missing one are both an empty cell; JSON keeps ``""``
  and ``null`` apart.
"""

from __future__ import annotations

import csv
import io
import json
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from django.db import connections
from django.db.models import F, Q, QuerySet, Value
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Coalesce
from django.utils import timezone
from openpyxl import Workbook

from config.lib.text import CONTROL_CHARACTERS, without_controls

from . import sql
from .models import ConsentEvent, ConsentKind, Program, Suppression

EXPORT_KINDS = ("consent", "opt-outs", "suppressions")
EXPORT_FORMATS = ("csv", "xlsx", "json")

# Keys of `ConsentEvent.evidence` that the exports show as columns.
EVIDENCE_IP = "ip"
EVIDENCE_USER_AGENT = "user_agent"
EVIDENCE_RAW_TEXT = "raw_text"
EVIDENCE_PROVIDER_MESSAGE_ID = "provider_message_id"

# Rows per yielded chunk on the row-by-row paths; bytes per chunk on the COPY path. One row
# per chunk doubles the cost of a streamed export (docs/performance.md#exports).
ROWS_PER_CHUNK = 2000
CHUNK_BYTES = 256 * 1024
XLSX_MAX_ROWS = 1_048_576  # Excel's limit per sheet, header included

_FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\n", "\r")
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")


def escape_formula(value: str) -> str:
    """`value` made safe to open in a spreadsheet: a leading ``'`` if it could start a formula.

    An exact E.164 number is returned unchanged (see the module docstring). Cells go through
    `spreadsheet_text`, which removes control characters first.
    """
    if value.startswith(_FORMULA_LEADS) and not _E164.fullmatch(value):
        return "'" + value
    return value


def spreadsheet_text(value: str) -> str:
    """`value` as a CSV cell holds it: leading control characters removed, then formulas
    escaped. Never the other way round: escaping first would let ``"\x01=cmd"`` become
    ``"=cmd"`` once the control character is dropped.
    """
    return escape_formula(value.lstrip(CONTROL_CHARACTERS))


# Column types. CODE values come from a fixed vocabulary (choices held by check constraints, hex
# digests) and cannot start a formula: they skip the escaping, the costliest step of a COPY export.
TEXT, TIME = sql.TEXT, sql.TIME
CODE, NUMBER = "code", "number"


@dataclass(frozen=True)
class Column:
    """One exported column: its header, the ORM expression that reads it and its type."""

    name: str
    expression: Any
    type: str = TEXT

    @property
    def alias(self) -> str:
        # Annotations may not reuse a model field's name; the prefix keeps them apart.
        return f"x_{self.name}"


def _evidence(key: str) -> KeyTextTransform:
    return KeyTextTransform(key, "evidence")


CONSENT_COLUMNS = (
    Column("event_id", F("id"), NUMBER),
    Column("phone", F("phone")),
    Column("program", F("program__slug")),
    Column("kind", F("kind"), CODE),
    Column("resulting_status", F("resulting_status"), CODE),
    Column("method", F("method"), CODE),
    Column("source", F("source")),
    Column("disclosure_version", F("disclosure__version"), NUMBER),
    Column("disclosure_hash", F("disclosure_hash"), CODE),
    Column("disclosure_text", F("disclosure__text")),
    Column("occurred_at", F("occurred_at"), TIME),
    Column("recorded_at", F("recorded_at"), TIME),
    Column("recorded_by", Coalesce(F("recorded_by__username"), F("recorded_by_label"))),
    Column("ip", _evidence(EVIDENCE_IP)),
    Column("user_agent", _evidence(EVIDENCE_USER_AGENT)),
    Column("raw_text", _evidence(EVIDENCE_RAW_TEXT)),
    Column("provider_message_id", _evidence(EVIDENCE_PROVIDER_MESSAGE_ID)),
    Column("note", F("note")),
)

OPT_OUT_COLUMNS = (
    Column("event_id", F("id"), NUMBER),
    Column("phone", F("phone")),
    Column("program", F("program__slug")),
    Column("opted_out_at", F("occurred_at"), TIME),
    Column("method", F("method"), CODE),
    Column("source", F("source")),
    Column("raw_text", _evidence(EVIDENCE_RAW_TEXT)),
    Column("processed_at", F("recorded_at"), TIME),
    Column("confirmation_sent_at", F("confirmation__sent_at"), TIME),
    Column("confirmation_message_ref", F("confirmation__message_ref")),
)

SUPPRESSION_COLUMNS = (
    Column("suppression_id", F("id"), NUMBER),
    # An erased contact's suppression keeps only the number's hash.
    Column("phone", Coalesce(F("phone"), Value("erased"))),
    Column("reason", F("reason"), CODE),
    Column("scope", Coalesce(F("program__slug"), Value("all programs"))),
    Column("created_at", F("created_at"), TIME),
    Column("created_by", Coalesce(F("created_by__username"), F("created_by_label"))),
    Column("lifted_at", F("lifted_at"), TIME),
    Column("lifted_by", F("lifted_by__username")),
    Column("note", F("note")),
    Column("lift_note", F("lift_note")),
)

COLUMNS: dict[str, tuple[Column, ...]] = {
    "consent": CONSENT_COLUMNS,
    "opt-outs": OPT_OUT_COLUMNS,
    "suppressions": SUPPRESSION_COLUMNS,
}


def content_type(fmt: str) -> str:
    """The HTTP Content-Type of an export in `fmt`."""
    _check_format(fmt)
    return {
        "csv": "text/csv; charset=utf-8",
        "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "json": "application/json",
    }[fmt]


def filename(kind: str, fmt: str, at: datetime | None = None) -> str:
    """A download name such as ``opt-outs-20250115-143000.csv`` (UTC time of the export)."""
    _check_kind(kind)
    _check_format(fmt)
    at = (at or timezone.now()).astimezone(UTC)
    return f"{kind}-{at:%Y%m%d-%H%M%S}.{fmt}"


def export_queryset(
    kind: str,
    *,
    since: datetime | None = None,
    program: Program | None = None,
    queryset: QuerySet | None = None,
) -> QuerySet:
    """The rows of an export, oldest first, as ``values_list`` tuples in `COLUMNS[kind]` order.

    `since` keeps what happened at or after it: `occurred_at` for the ledger and the opt-out log
    (when the person acted), `created_at` for suppressions. `program` keeps that program's rows;
    for suppressions it also keeps the ones covering every program, as they apply to it too.
    `queryset` (a filtered ConsentEvent or Suppression queryset, e.g. the admin's changelist)
    narrows the rows further.
    """
    _check_kind(kind)
    model = Suppression if kind == "suppressions" else ConsentEvent
    if queryset is None:
        queryset = model.objects.all()
    elif queryset.model is not model:
        raise ValueError(f"A {kind} export reads {model.__name__} rows, not {queryset.model}.")
    if kind == "suppressions":
        time_field = "created_at"
        if program is not None:
            queryset = queryset.filter(Q(program=program) | Q(program__isnull=True))
    else:
        time_field = "occurred_at"
        if kind == "opt-outs":
            queryset = queryset.filter(kind=ConsentKind.OPT_OUT)
        if program is not None:
            queryset = queryset.filter(program=program)
    if since is not None:
        if timezone.is_naive(since):
            raise ValueError("`since` needs a time zone.")
        queryset = queryset.filter(**{f"{time_field}__gte": since})
    columns = COLUMNS[kind]
    return (
        queryset.order_by(time_field, "id")
        .annotate(**{c.alias: c.expression for c in columns})
        .values_list(*(c.alias for c in columns))
    )


def stream_export(
    kind: str,
    fmt: str,
    *,
    since: datetime | None = None,
    program: Program | None = None,
    queryset: QuerySet | None = None,
) -> Iterator[bytes]:
    """Yield an export of `kind` (see `EXPORT_KINDS`) in `fmt` (csv, xlsx or json) in chunks.

    Raises ValueError at once for an unknown kind or format, a naive `since` or a queryset of the
    wrong model; the rows are read only as the chunks are consumed (XLSX: all at the first chunk,
    as a zip file cannot be sent before it is finished; it is built in a temporary file).
    """
    _check_format(fmt)
    rows = export_queryset(kind, since=since, program=program, queryset=queryset)
    columns = COLUMNS[kind]
    if fmt == "csv" and connections[rows.db].vendor == "postgresql":
        return _copy_csv(rows, columns)
    writer = {"csv": _csv_chunks, "xlsx": _xlsx_chunks, "json": _json_chunks}[fmt]
    return writer(rows, columns)


def _check_kind(kind: str) -> None:
    if kind not in EXPORT_KINDS:
        raise ValueError(f"“{kind}” is not an export; use one of {', '.join(EXPORT_KINDS)}.")


def _check_format(fmt: str) -> None:
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"“{fmt}” is not an export format; use {', '.join(EXPORT_FORMATS)}.")


def _batches(rows: QuerySet) -> Iterator[list[tuple]]:
    iterator = rows.iterator(chunk_size=ROWS_PER_CHUNK)
    while batch := list(islice(iterator, ROWS_PER_CHUNK)):
        yield batch


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return spreadsheet_text(value if isinstance(value, str) else str(value))


def _xlsx_text(value: Any) -> str | None:
    # The first character is no longer a control character: dropping the others cannot
    # change how the cell starts.
    text = _text(value)
    return without_controls(text) if text else text


def _raw_text(value: Any) -> str | None:
    return value if value is None or isinstance(value, str) else str(value)


def _xlsx_time(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC).replace(tzinfo=None)


def _identity(value: Any) -> Any:
    return value


def _converters(
    columns: Iterable[Column], text: Callable, time: Callable
) -> list[Callable[[Any], Any]]:
    by_type = {TEXT: text, CODE: _identity, TIME: time, NUMBER: _identity}
    return [by_type[c.type] for c in columns]


def _csv_chunks(rows: QuerySet, columns: tuple[Column, ...]) -> Iterator[bytes]:
    convert = _converters(columns, _text, _iso)
    buffer = io.StringIO()
    writer = csv.writer(buffer)  # "\r\n" line ends: a bare CR in a value then gets quoted too
    writer.writerow([c.name for c in columns])
    for batch in _batches(rows):
        writer.writerows([[f(v) for f, v in zip(convert, row, strict=True)] for row in batch])
        yield _drain(buffer)
    if tail := _drain(buffer):
        yield tail


def _drain(buffer: io.StringIO) -> bytes:
    data = buffer.getvalue().encode()
    buffer.seek(0)
    buffer.truncate()
    return data


def _json_chunks(rows: QuerySet, columns: tuple[Column, ...]) -> Iterator[bytes]:
    convert = _converters(columns, _raw_text, _iso)
    names = [c.name for c in columns]
    separator = "[\n"
    for batch in _batches(rows):
        objects = [
            json.dumps(
                {n: f(v) for n, f, v in zip(names, convert, row, strict=True)},
                ensure_ascii=False,
            )
            for row in batch
        ]
        yield (separator + ",\n".join(objects)).encode()
        separator = ",\n"
    yield b"[]\n" if separator == "[\n" else b"\n]\n"


def _xlsx_chunks(rows: QuerySet, columns: tuple[Column, ...]) -> Iterator[bytes]:
    convert = _converters(columns, _xlsx_text, _xlsx_time)
    header = [c.name for c in columns]
    # Write-only mode streams each sheet to a temporary file and writes strings inline, so
    # memory stays flat however many rows there are.
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Export")
    sheet.append(header)
    rows_in_sheet = 1
    for batch in _batches(rows):
        for row in batch:
            if rows_in_sheet == XLSX_MAX_ROWS:
                sheet = workbook.create_sheet(f"Export {len(workbook.worksheets) + 1}")
                sheet.append(header)
                rows_in_sheet = 1
            sheet.append([f(v) for f, v in zip(convert, row, strict=True)])
            rows_in_sheet += 1
    with tempfile.TemporaryFile() as file:
        workbook.save(file)
        file.seek(0)
        while chunk := file.read(CHUNK_BYTES):
            yield chunk


def _copy_csv(rows: QuerySet, columns: tuple[Column, ...]) -> Iterator[bytes]:
    """CSV straight from PostgreSQL's ``COPY (SELECT ...) TO STDOUT``, escaped in SQL.

    Same columns and values as `_csv_chunks`; only the quoting differs, not what a CSV reader
    gets: line ends are "\\n" and an empty string is written ``""`` (an empty field is NULL).
    """
    statement = sql.copy_csv_sql(rows, [(c.alias, c.name, c.type) for c in columns])
    connection = connections[rows.db]
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        pending = bytearray()
        for data in copy:
            pending += data
            if len(pending) >= CHUNK_BYTES:
                yield bytes(pending)
                pending.clear()
        if pending:
            yield bytes(pending)
