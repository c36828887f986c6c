"""Re-check a consent evidence pack: every file against the SHA-256 its manifest lists.

    manage.py evidence_verify evidence.zip

Exits non-zero, naming each problem, when a file was changed, removed or added, or when the
ledger's hash chain in it does not recompute (a link altered, even with the manifest redone).
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from campaigns.evidence import evidence_verify


class Command(BaseCommand):
    help = "Re-check every hash of a consent evidence pack (non-zero exit if tampered with)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        try:
            problems = evidence_verify(path)
        except (OSError, zipfile.BadZipFile) as exc:
            raise CommandError(f"Cannot read {path.name} as a ZIP: {exc}") from exc
        if problems:
            for problem in problems:
                self.stderr.write(problem)
            raise CommandError(f"{path.name}: {len(problems)} problem(s); the pack is not intact.")
        self.stdout.write(
            f"{path.name}: every file matches its SHA-256 in the manifest, and the ledger's "
            "hash chain recomputes."
        )
