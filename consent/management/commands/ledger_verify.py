"""`manage.py ledger_verify [--root FILE_OR_ID_OR_DATE]`: prove the consent ledger unchanged."""

from __future__ import annotations

import contextlib
from datetime import date
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from consent.ledger_chain import RootClaim, ledger_verify
from consent.models import LedgerRoot


class Command(BaseCommand):
    help = (
        "Check every contact's hash chain and, against a root (the latest by default; a root "
        "file kept elsewhere is the strongest), that no event was altered, reordered or removed. "
        "Names the first bad event; exits 1 if any."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--root", help="A root file, or a root's id or date (YYYY-MM-DD) in the database."
        )

    def handle(self, *args, root: str | None, **options) -> None:
        claim = self._claim(root)
        result = ledger_verify(root=claim)
        against = f", against {claim.source}" if claim else ""
        if result.ok:
            self.stdout.write(
                f"ok: {result.chains} chains, {result.events} events verified{against}"
            )
            return
        for problem in result.problems:
            self.stdout.write(f"BAD {problem}")
        for problem in result.root_problems:
            self.stdout.write(f"ROOT {problem}")
        first = str(result.problems[0]) if result.problems else result.root_problems[0]
        raise CommandError(f"the consent ledger does not verify{against}; first: {first}")

    def _claim(self, root: str | None) -> RootClaim | None:
        if root is None:
            latest = LedgerRoot.objects.order_by("-date").first()
            return RootClaim.from_row(latest) if latest else None
        if Path(root).is_file():
            try:
                return RootClaim.from_file(Path(root))
            except (ValueError, KeyError) as exc:
                raise CommandError(f"{root}: {exc}") from exc
        row = None
        if root.isdigit():
            row = LedgerRoot.objects.filter(pk=int(root)).first()
        else:
            with contextlib.suppress(ValueError):
                row = LedgerRoot.objects.filter(date=date.fromisoformat(root)).first()
        if row is None:
            raise CommandError(f"{root} is neither a root file nor a published root's id or date.")
        return RootClaim.from_row(row)
