"""Import contacts with consent from a CSV or XLSX file, through the same resource as the admin.

    manage.py import_consent leads.csv --dry-run
    manage.py import_consent leads.xlsx --user carl_compliance

Prints every rejected row with its number (as a spreadsheet shows it: the header is row 1) and
reasons, then the totals (new, skipped, invalid). Rejected rows do not stop the good ones; the
exit status is non-zero only when the file cannot be read (or the database fails, after the
batches before it were committed: a re-run skips them).

The file is read and imported in batches of `CHUNK_ROWS` rows, each committed on its own
(`consent.importing`), so memory stays flat however long it is. Blank rows are ignored. See
`consent.resources` for the columns and rules.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from openpyxl import load_workbook

from consent.importing import BatchImport, BatchReport

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
        with ExitStack() as stack:
            header, rows = read_rows(path, options["format"], stack)
            try:
                batch_import = BatchImport(
                    header=header,
                    file_name=path.name,
                    dry_run=options["dry_run"],
                    user=user,
                    recorded_by_label="import_consent",
                    batch_rows=CHUNK_ROWS,
                )
            except ValueError as exc:
                raise CommandError(str(exc)) from exc

            def report(batch: BatchReport) -> None:
                for rejected in batch.rejected:
                    self.stdout.write(str(rejected))

            fitted = ((line, _fit(row, len(header), line)) for line, row in rows)
            totals = batch_import.run(fitted, on_batch=report)
        self.stdout.write(
            f"{path.name}: {totals.total} rows: {totals.new} new, {totals.skip} skipped "
            f"(already imported), {totals.invalid} invalid, 0 failed"
            + (" (dry run: nothing written)" if options["dry_run"] else "")
        )
