"""`manage.py setup_schedules`: the periodic jobs, created or updated (idempotent)."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django_q.models import Schedule

#: name -> (function, minutes between runs)
SCHEDULES = {
    "dispatch due messages": ("messaging.tasks.dispatch", 1),
    "reconcile expired leases": ("messaging.tasks.reconcile_leases", 1),
    "start scheduled campaigns": ("campaigns.tasks.start_due_campaigns", 1),
    "deliver due webhooks": ("messaging.tasks.deliver_webhooks", 1),
    "send monthly subscription reminders": ("campaigns.tasks.send_monthly_reminders", 60),
    "fetch message prices": ("messaging.tasks.fetch_prices", 5),
    "squash the daily counters": ("messaging.tasks.squash_counters", 1),
    "check sending campaigns and senders for incidents": ("campaigns.tasks.check_incidents", 1),
    "prune idempotency records": ("messaging.tasks.prune_idempotency_records", 60),
    "verify consent states against the ledger": ("consent.tasks.verify_consent_states", 7 * 1440),
    "publish the daily ledger root": ("consent.tasks.publish_ledger_root", 1440),
    "purge message bodies and payloads past retention": (
        "messaging.tasks.purge_expired_records",
        24 * 60,
    ),
    # Daily: each registration is reviewed when its own cadence (weekly by default) comes round.
    "program reviews": ("campaigns.tasks.run_program_reviews", 24 * 60),
}


class Command(BaseCommand):
    help = "Create or update the django-q2 schedules the product needs."

    def handle(self, *args, **options) -> None:
        for name, (func, minutes) in SCHEDULES.items():
            _, created = Schedule.objects.update_or_create(
                name=name,
                defaults={
                    "func": func,
                    "schedule_type": Schedule.MINUTES,
                    "minutes": minutes,
                    "repeats": -1,
                },
            )
            self.stdout.write(f"{'created' if created else 'updated'}: {name} every {minutes} min")
