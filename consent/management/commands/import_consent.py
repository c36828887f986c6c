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

from contextlib import ExitStack
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from consent.importing import BatchImport, BatchReport, ImportFileError, fit_cells, read_rows

CHUNK_ROWS = 1000


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
        try:
            with ExitStack() as stack:
                header, rows = read_rows(path, options["format"], stack)
                batch_import = BatchImport(
                    header=header,
                    file_name=path.name,
                    dry_run=options["dry_run"],
                    user=user,
                    recorded_by_label="import_consent",
                    batch_rows=CHUNK_ROWS,
                )

                def report(batch: BatchReport) -> None:
                    for rejected in batch.rejected:
                        self.stdout.write(str(rejected))

                totals = batch_import.run(fit_cells(rows, len(header)), on_batch=report)
        except (ImportFileError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"{path.name}: {totals.total} rows: {totals.new} new, {totals.skip} skipped "
            f"(already imported), {totals.invalid} invalid, 0 failed"
            + (" (dry run: nothing written)" if options["dry_run"] else "")
        )
