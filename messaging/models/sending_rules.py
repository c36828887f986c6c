"""Quiet-hours and frequency rules (compliance owns them) and reassigned-number evidence."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from consent.models import Contact


class QuietHoursRule(models.Model):
    """When messages may reach a recipient in a jurisdiction, and how many per 24 hours.

    `jurisdiction` is "US" (federal) or a state's postal code. Times are the recipient's local
    time; `end` is exclusive. A rule applies from `effective_from` until `effective_to`
    (exclusive, open when empty). Seeded by a migration; editable in the admin.
    """

    jurisdiction = models.CharField(max_length=2, help_text='"US" or a state code, e.g. FL.')
    start = models.TimeField()
    end = models.TimeField()
    sunday_start = models.TimeField(null=True, blank=True, help_text="A later start on Sundays.")
    no_sundays = models.BooleanField(default=False)
    no_holidays = models.BooleanField(default=False, help_text="No messages on federal holidays.")
    marketing_only = models.BooleanField(
        default=True, help_text="Applies to marketing; transactional programs follow a setting."
    )
    frequency_cap_24h = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Most messages per recipient and program in 24 hours."
    )
    effective_from = models.DateField()
    effective_to = models.DateField(null=True, blank=True)
    confirmed = models.BooleanField(default=True, help_text="Confirmed by a primary source.")
    source = models.CharField(max_length=200, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["jurisdiction", "-effective_from"]
        constraints = [
            models.CheckConstraint(
                condition=Q(start__lt=models.F("end")), name="quiet_start_before_end"
            )
        ]

    def __str__(self) -> str:
        return f"{self.jurisdiction} {self.start:%H:%M}-{self.end:%H:%M} from {self.effective_from}"


class ReassignedNumberCheck(models.Model):
    """Evidence of a reassigned-number query: number, the date asked about, answer, source."""

    class Answer(models.TextChoices):
        YES = "yes", "Reassigned"
        NO = "no", "Not reassigned"
        NO_DATA = "no_data", "No data"

    phone = models.CharField(max_length=16, db_index=True)
    contact = models.ForeignKey(
        Contact, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    date_asked = models.DateField(help_text="Consent date or last verified date sent.")
    answer = models.CharField(max_length=8, choices=Answer.choices)
    source = models.CharField(max_length=40, help_text="twilio_lookup or fcc_rnd_file")
    checked_at = models.DateTimeField(default=timezone.now)
    raw = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-checked_at"]

    def __str__(self) -> str:
        return f"{self.phone} on {self.date_asked}: {self.answer}"
