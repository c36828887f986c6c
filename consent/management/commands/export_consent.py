"""Export the consent ledger, the opt-out log or suppressions as CSV, XLSX or JSON.

    manage.py export_consent --kind opt-outs --since 2025-01-01 --format csv --output optouts.csv

Writes to stdout unless --output is given (XLSX needs --output, or a pipe). Rows stream: memory
stays flat however large the ledger. See `consent.exports` for the columns and escaping.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable
from datetime import datetime, time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from consent.exports import EXPORT_FORMATS, EXPORT_KINDS, stream_export
from consent.models import Program


def parse_since(text: str) -> datetime:
    """A date (midnight) or ISO 8601 date-time; without an offset it is in the default zone."""
    try:
        moment = parse_datetime(text)
        day = None if moment else parse_date(text)
    except ValueError:
        moment = day = None
    if day is not None:
        moment = datetime.combine(day, time.min)
    if moment is None:
        raise CommandError(
            f"--since “{text}” is not a date; use YYYY-MM-DD or an ISO 8601 date-time "
            "such as 2025-01-01T09:00:00-05:00."
        )
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


class Command(BaseCommand):
    help = "Export consent records, the opt-out log or suppressions (CSV, XLSX or JSON)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--kind", required=True, choices=EXPORT_KINDS)
        parser.add_argument("--format", default="csv", choices=EXPORT_FORMATS)
        parser.add_argument(
            "--since",
            help="Only what happened at or after this date or ISO 8601 date-time "
            "(default time zone unless it has an offset).",
        )
        parser.add_argument("--program", help="Only this program (slug).")
        parser.add_argument("--output", help="File to write; stdout if omitted.")

    def handle(self, *args: Any, **options: Any) -> None:
        kind, fmt = options["kind"], options["format"]
        since = parse_since(options["since"]) if options["since"] else None
        program = None
        if options["program"]:
            program = Program.objects.filter(slug=options["program"]).first()
            if program is None:
                known = ", ".join(Program.objects.values_list("slug", flat=True)) or "none"
                raise CommandError(f"No program “{options['program']}” (known: {known}).")
        chunks = stream_export(kind, fmt, since=since, program=program)
        if options["output"]:
            try:
                with open(options["output"], "wb") as file:
                    self._write_binary(chunks, file)
            except OSError as exc:
                raise CommandError(f"Cannot write {options['output']}: {exc}") from exc
            return
        binary_out = getattr(self.stdout, "buffer", None)
        if fmt == "xlsx" and (binary_out is None or self.stdout.isatty()):
            raise CommandError("XLSX is a binary file: give --output FILE or pipe stdout.")
        if binary_out is not None:
            self.stdout.flush()
            self._write_binary(chunks, binary_out)
            binary_out.flush()
        else:
            self._write_text(chunks)

    def _write_binary(self, chunks: Iterable[bytes], out: Any) -> None:
        for chunk in chunks:
            out.write(chunk)

    def _write_text(self, chunks: Iterable[bytes]) -> None:
        # A chunk may end inside a multi-byte character.
        decoder = codecs.getincrementaldecoder("utf-8")()
        for chunk in chunks:
            self.stdout.write(decoder.decode(chunk), ending="")
        self.stdout.write(decoder.decode(b"", final=True), ending="")
