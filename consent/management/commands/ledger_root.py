"""`manage.py ledger_root [--date D] [--output FILE_OR_DIR]`: publish a day's ledger root."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from consent.ledger_chain import root_publish, root_write


class Command(BaseCommand):
    help = (
        "Publish the root over every contact's hash chain for a UTC day (default yesterday) "
        "and write the root file an operator keeps elsewhere."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--date", type=date.fromisoformat, help="YYYY-MM-DD (UTC).")
        parser.add_argument("--output", type=Path, help="The root file, or a folder for it.")

    def handle(self, *args, date: date | None, output: Path | None, **options) -> None:
        try:
            root = root_publish(date)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"root {root.date}: {root.root_hash} ({root.chains} chains, {root.events} events, "
            f"recorded before {root.cutoff.isoformat()})"
        )
        if output:
            self.stdout.write(f"written: {root_write(root, output)}")
