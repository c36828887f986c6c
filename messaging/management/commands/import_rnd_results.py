"""`manage.py import_rnd_results FILE`: store an FCC Reassigned Numbers Database result file.

The file format is described in `messaging.reassigned`. Good rows are stored even when others
are rejected; the command then lists the rejected rows and exits with status 1.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from messaging.reassigned import RejectedRow, RndFileError, import_fcc_rnd_results


class Command(BaseCommand):
    help = "Import an FCC Reassigned Numbers Database result file (CSV) as reassigned checks."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="CSV: phone_number,date,result[,queried_at]")

    def handle(self, *args, file: Path, **options) -> None:
        if not file.is_file():
            raise CommandError(f"{file}: no such file")
        rejected: list[RejectedRow] = []
        try:
            imported = import_fcc_rnd_results(file, rejected=rejected)
        except RndFileError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Imported {imported} reassigned-number checks from {file.name}.")
        for row in rejected:
            self.stderr.write(f"rejected {row}")
        if rejected:
            raise CommandError(
                f"{len(rejected)} rows rejected (listed above); the rest were stored."
            )
