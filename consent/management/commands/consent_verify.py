"""`manage.py consent_verify`: recompute every consent state from the ledger; exit 1 on drift."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from consent.consistency import consent_state_check


class Command(BaseCommand):
    help = "Recompute every consent state from the ledger and report each mismatch."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--limit", type=int, default=100, help="Mismatches to list.")

    def handle(self, *args, limit: int, **options) -> None:
        check = consent_state_check(limit=limit)
        if check.ok:
            self.stdout.write("ok: every consent state follows from the ledger")
            return
        for drift in check.drifts:
            self.stdout.write(f"MISMATCH {drift}")
        total = len(check.drifts) + check.more
        raise CommandError(f"{total} consent state(s) do not follow from the ledger.")
