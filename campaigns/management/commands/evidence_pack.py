"""Write the consent evidence pack of one number to a ZIP file (see `campaigns.evidence`).

manage.py evidence_pack "(415) 555-2671" -o evidence.zip --user carl_compliance
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from campaigns.evidence import EvidenceError, evidence_pack_write
from consent.phones import InvalidPhoneNumber


class Command(BaseCommand):
    help = "Write the consent evidence pack (ZIP) of one phone number."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("phone", help="The number, in any format.")
        parser.add_argument("-o", "--output", type=Path, required=True, help="The ZIP to write.")
        parser.add_argument("--user", help="Username recorded as having made the pack.")

    def handle(self, *args: Any, **options: Any) -> None:
        user = None
        if options["user"]:
            user = get_user_model().objects.filter(username=options["user"]).first()
            if user is None:
                raise CommandError(f"No user “{options['user']}”.")
        output: Path = options["output"]
        partial = output.with_name(output.name + ".partial")
        try:
            with partial.open("wb") as out:
                result = evidence_pack_write(
                    phone=options["phone"], out=out, made_by=user, made_by_label="evidence_pack"
                )
        except (InvalidPhoneNumber, EvidenceError) as exc:
            partial.unlink(missing_ok=True)
            raise CommandError(str(exc)) from exc
        partial.replace(output)
        counts = ", ".join(f"{n:,} {what}" for what, n in sorted(result.counts.items()))
        self.stdout.write(
            f"{output}: evidence pack of {result.phone}, {len(result.files) + 1} files "
            f"({counts}); manifest SHA-256 {result.record.manifest_sha256}"
        )
