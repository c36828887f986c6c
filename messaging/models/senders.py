"""Senders (the numbers and Messaging Services we send from) and their shared rate state."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from consent.models import Program


class SenderKind(models.TextChoices):
    LONG_CODE = "10dlc", "10DLC long code"
    TOLL_FREE = "toll_free", "Toll-free"
    SHORT_CODE = "short_code", "Short code"


class Sender(models.Model):
    """A phone number or Twilio Messaging Service that messages go out from.

    `mps` is the messages-per-second this sender may use (segments count as units), shared by
    every worker through `SenderThrottle`; `daily_segment_cap` is the T-Mobile brand cap or a
    sole-proprietor limit, counted per UTC day in `SenderDailyUsage`.
    """

    name = models.CharField(max_length=120)
    phone_number = models.CharField(max_length=16, unique=True, null=True, blank=True)
    messaging_service_sid = models.CharField(max_length=34, unique=True, null=True, blank=True)
    kind = models.CharField(max_length=12, choices=SenderKind.choices, default=SenderKind.LONG_CODE)
    programs = models.ManyToManyField(Program, related_name="senders", blank=True)
    mps = models.FloatField("messages per second", default=1.0)
    daily_segment_cap = models.PositiveIntegerField(null=True, blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(phone_number__isnull=False) | Q(messaging_service_sid__isnull=False),
                name="sender_has_number_or_service",
            ),
            models.CheckConstraint(condition=Q(mps__gt=0), name="sender_mps_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.phone_number or self.messaging_service_sid})"


class SenderThrottle(models.Model):
    """Token bucket of one sender, shared by all workers through the database.

    `tokens` may go negative: a worker that takes more than is there waits until its debt is
    paid back at `mps`, so concurrent workers queue up fairly instead of retrying.
    """

    sender = models.OneToOneField(Sender, on_delete=models.CASCADE, primary_key=True)
    tokens = models.FloatField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.sender_id}: {self.tokens:.1f} tokens"


class SenderDailyUsage(models.Model):
    sender = models.ForeignKey(Sender, on_delete=models.CASCADE, related_name="daily_usage")
    day = models.DateField()
    segments = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["sender", "day"], name="sender_daily_usage_unique")
        ]

    def __str__(self) -> str:
        return f"{self.sender_id} on {self.day}: {self.segments} segments"
