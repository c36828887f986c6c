"""Import contacts with consent from a CSV or XLSX file, through the same resource as the admin.

    manage.py import_consent leads.csv --dry-run
    manage.py import_consent leads.xlsx --user carl_compliance

Prints the totals (new, skipped, invalid) and every rejected row with its number (as a
spreadsheet shows it: the header is row 1) and reasons. Rejected rows do not stop the good ones;
the exit status is non-zero only when the file cannot be read or a row failed unexpectedly.
See `consent.resources` for the columns and rules.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tablib
from django.contrib.auth import get_user_model
from django.core.exceptions import NON_FIELD_ERRORS
from django.core.management.base import BaseCommand, CommandError, CommandParser
from import_export.formats.base_formats import CSV, XLSX
from import_export.results import Result

from consent.resources import ConsentBatchImportResource


def load_dataset(path: Path, fmt: str | None = None) -> tablib.Dataset:
    """Read a CSV (UTF-8, with or without BOM) or XLSX file; `fmt` defaults to the extension."""
    fmt = (fmt or path.suffix.lstrip(".")).lower()
    if fmt not in ("csv", "xlsx"):
        raise CommandError(f"Cannot tell the format of {path.name}: give --format csv or xlsx.")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CommandError(f"Cannot read {path}: {exc}") from exc
    try:
        if fmt == "xlsx":
            return XLSX().create_dataset(data)
        return CSV().create_dataset(data.decode("utf-8-sig"))
    except Exception as exc:  # tablib and openpyxl raise many kinds
        raise CommandError(f"Cannot read {path.name} as {fmt.upper()}: {exc}") from exc


def describe(result: Result) -> list[str]:
    """Readable lines for the rejected rows of an import result."""
    lines = []
    for invalid in result.invalid_rows:
        reasons = "; ".join(
            (f"{column}: " if column != NON_FIELD_ERRORS else "") + message.rstrip(".")
            for column, messages in invalid.error_dict.items()
            for message in messages
        )
        lines.append(f"row {invalid.number + 1}: {reasons}")
    for error_row in result.error_rows:
        for error in error_row.errors:
            lines.append(f"row {error_row.number + 1}: unexpected error: {error.error!r}")
    return lines


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
        dataset = load_dataset(path, options["format"])
        resource = ConsentBatchImportResource(recorded_by_label="import_consent")
        result = resource.import_data(
            dataset,
            dry_run=options["dry_run"],
            raise_errors=False,
            file_name=path.name,
            user=user,
        )
        totals = result.totals
        self.stdout.write(
            f"{path.name}: {result.total_rows} rows: {totals['new']} new, {totals['skip']} "
            f"skipped (already imported), {totals['invalid']} invalid, {totals['error']} failed"
            + (" (dry run: nothing written)" if options["dry_run"] else "")
        )
        for line in describe(result):
            self.stdout.write(line)
        if result.base_errors:
            raise CommandError("; ".join(str(e.error) for e in result.base_errors))
        if result.has_errors():
            raise CommandError(f"{totals['error']} rows failed unexpectedly (listed above).")
