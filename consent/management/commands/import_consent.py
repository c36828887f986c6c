"""Import contacts with consent from a CSV or XLSX file, through the same resource as the admin.

    manage.py import_consent leads.csv --dry-run
    manage.py import_consent leads.xlsx --user carl_compliance

Prints every rejected row with its number (as a spreadsheet shows it: the header is row 1) and
reasons, then the totals (new, skipped, invalid). Rejected rows do not stop the good ones; the
exit status is non-zero only when the file cannot be read or a row failed unexpectedly.

The file is read and imported in slices of `CHUNK_ROWS` rows, so memory stays flat however long
it is (import-export keeps a result per row of what it is given). Blank rows are ignored.
See `consent.resources` for the columns and rules.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from contextlib import ExitStack
from itertools import islice
from pathlib import Path
from typing import Any

import tablib
from django.contrib.auth import get_user_model
from django.core.exceptions import NON_FIELD_ERRORS
from django.core.management.base import BaseCommand, CommandError, CommandParser
from import_export.results import Result
from openpyxl import load_workbook

from consent.resources import ConsentBatchImportResource

CHUNK_ROWS = 1000


def read_rows(path: Path, fmt: str | None, stack: ExitStack) -> tuple[list[str], Iterator]:
    """The header and an iterator of (spreadsheet row number, cells) for a CSV or XLSX file.

    CSV is UTF-8, with or without BOM; XLSX is read from its first sheet. `fmt` defaults to the
    file's extension. Raises CommandError if the file cannot be opened or has no header.
    """
    fmt = (fmt or path.suffix.lstrip(".")).lower()
    if fmt not in ("csv", "xlsx"):
        raise CommandError(f"Cannot tell the format of {path.name}: give --format csv or xlsx.")
    try:
        if fmt == "xlsx":
            workbook = load_workbook(path, read_only=True, data_only=True)
            stack.callback(workbook.close)
            rows = workbook.worksheets[0].iter_rows(values_only=True)
        else:
            rows = csv.reader(stack.enter_context(path.open(encoding="utf-8-sig", newline="")))
        header = next(rows, None)
    except Exception as exc:  # OSError, zip, XML and decoding errors alike
        raise CommandError(f"Cannot read {path.name} as {fmt.upper()}: {exc}") from exc
    if not header:
        raise CommandError(f"{path.name} is empty: the first row must name the columns.")
    header = ["" if h is None else str(h) for h in header]
    numbered = (
        (line, row)
        for line, row in enumerate(rows, start=2)
        if any(cell not in (None, "") for cell in row)
    )
    return header, numbered


def _fit(row: Any, width: int, line: int) -> list:
    cells = list(row)
    if len(cells) > width:
        if any(cell not in (None, "") for cell in cells[width:]):
            raise CommandError(f"Row {line} has more cells than the header row has columns.")
        cells = cells[:width]
    return cells + [""] * (width - len(cells))


def describe(result: Result, lines: list[int]) -> list[str]:
    """Readable lines for the rejected rows of one slice, numbered as in the file."""
    described = []
    for invalid in result.invalid_rows:
        reasons = "; ".join(
            (f"{column}: " if column != NON_FIELD_ERRORS else "") + message.rstrip(".")
            for column, messages in invalid.error_dict.items()
            for message in messages
        )
        described.append(f"row {lines[invalid.number - 1]}: {reasons}")
    for error_row in result.error_rows:
        for error in error_row.errors:
            line = lines[error_row.number - 1]
            described.append(f"row {line}: unexpected error: {error.error!r}")
    return described


class Command(BaseCommand):
    help = "Import contacts with consent from CSV or XLSX (the same rules as the admin import)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--dry-run", action="store_true", help="Check every row and report; write nothing."
        )
        parser.add_argument("--format", choices=("csv", "xlsx"), help="Default: from the name.")
        parser.add_argument("--user", help="Username recorded as having made the import.")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        user = None
        if options["user"]:
            user = get_user_model().objects.filter(username=options["user"]).first()
            if user is None:
                raise CommandError(f"No user “{options['user']}”.")
        # One resource for the whole file: it remembers the rows it has seen across slices.
        resource = ConsentBatchImportResource(recorded_by_label="import_consent")
        totals = {"total": 0, "new": 0, "skip": 0, "invalid": 0, "error": 0}
        with ExitStack() as stack:
            header, rows = read_rows(path, options["format"], stack)
            while chunk := list(islice(rows, CHUNK_ROWS)):
                lines = [line for line, _ in chunk]
                dataset = tablib.Dataset(
                    *(_fit(row, len(header), line) for line, row in chunk), headers=header
                )
                result = resource.import_data(
                    dataset,
                    dry_run=options["dry_run"],
                    raise_errors=False,
                    file_name=path.name,
                    user=user,
                    line_numbers=lines,
                )
                if result.base_errors:
                    raise CommandError("; ".join(str(e.error) for e in result.base_errors))
                for line in describe(result, lines):
                    self.stdout.write(line)
                totals["total"] += result.total_rows
                for kind in ("new", "skip", "invalid", "error"):
                    totals[kind] += result.totals[kind]
        self.stdout.write(
            f"{path.name}: {totals['total']} rows: {totals['new']} new, {totals['skip']} skipped "
            f"(already imported), {totals['invalid']} invalid, {totals['error']} failed"
            + (" (dry run: nothing written)" if options["dry_run"] else "")
        )
        if totals["error"]:
            raise CommandError(f"{totals['error']} rows failed unexpectedly (listed above).")
