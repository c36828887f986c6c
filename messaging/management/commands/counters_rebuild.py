"""`manage.py counters_rebuild`: recompute the daily counters from the raw tables."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from messaging.counters import rebuild


class Command(BaseCommand):
    help = (
        "Replace every daily counter by what the messages, opt-outs, replies, flow runs "
        "(and clicks and conversions, when tracked) say."
    )

    def handle(self, *args, **options) -> None:
        rows = rebuild()
        self.stdout.write(f"rebuilt: {rows} counter rows")
