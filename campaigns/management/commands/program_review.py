"""`manage.py program_review [--registration ID] [--json]`: run the program review now."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from campaigns.registrations.models import (
    FindingStatus,
    Registration,
    RegistrationStatus,
    ReviewTrigger,
)
from campaigns.registrations.review import program_review_run


class Command(BaseCommand):
    help = (
        "Review registrations against what is actually sent: every registration (and the "
        "senders no registration covers), or one. Prints the findings."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--registration", type=int, help="Review only this registration id.")
        parser.add_argument(
            "--json", action="store_true", help="Print a JSON list of the findings."
        )

    def handle(self, *args, registration: int | None, **options) -> None:
        as_json = options["json"]
        if registration is not None:
            try:
                targets = [Registration.objects.get(pk=registration)]
            except Registration.DoesNotExist as exc:
                raise CommandError(f"No registration with id {registration}.") from exc
        else:
            targets = [*Registration.objects.exclude(status=RegistrationStatus.DRAFT), None]
        findings = []
        for target in targets:
            review = program_review_run(registration=target, trigger=ReviewTrigger.COMMAND)
            live = review.findings_seen.exclude(status=FindingStatus.RESOLVED).order_by(
                "code", "id"
            )
            findings += [f.as_dict() for f in live]
            if not as_json:
                scope = target or "senders without a registration"
                self.stdout.write(
                    f"{scope}: {review.messages_seen} messages, {len(live)} findings "
                    f"({review.raised} new or grown)"
                )
                for finding in live:
                    self.stdout.write(
                        f"  [{finding.severity}] {finding.code} ({finding.field}): {finding.detail}"
                    )
        if as_json:
            self.stdout.write(_dumps(findings))


def _dumps(findings: list[dict]) -> str:
    return json.dumps(findings, indent=2, default=str)
