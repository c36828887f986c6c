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


class KeywordReplies(models.TextChoices):
    """Who answers an exact STOP, HELP or START texted to a sender."""

    DEFAULT = "", "Default for the kind (long code, toll-free: provider; short code: us)"
    PROVIDER = "provider", "The provider (Twilio answers and blocks; we only record)"
    US = "us", "Us (STOP filtering is off at the provider; we reply)"


class Sender(models.Model):
    """A phone number or Twilio Messaging Service that messages go out from.

    `keyword_replies` says who answers exact keywords. On long codes and toll-free numbers
    Twilio answers STOP/HELP/START itself and blocks the number on STOP before our webhook is
    called, so we must not answer too; a short code can have that filtering turned off, and
    then we answer. `provider_*_text` record what the provider sends, when known (Twilio's
    default or the Messaging Service's Advanced Opt-Out texts).

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
    keyword_replies = models.CharField(
        "who answers STOP/HELP/START",
        max_length=8,
        choices=KeywordReplies.choices,
        default=KeywordReplies.DEFAULT,
        blank=True,
    )
    provider_stop_text = models.TextField(
        blank=True, help_text="What the provider replies to STOP (Advanced Opt-Out), if known."
    )
    provider_help_text = models.TextField(
        blank=True, help_text="What the provider replies to HELP, if known."
    )
    provider_start_text = models.TextField(
        blank=True, help_text="What the provider replies to START, if known."
    )
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

    @property
    def provider_answers_keywords(self) -> bool:
        """True when the provider, not us, answers exact STOP/HELP/START keywords."""
        if self.keyword_replies:
            return self.keyword_replies == KeywordReplies.PROVIDER
        return self.kind != SenderKind.SHORT_CODE

    def provider_reply_text(self, keyword: str) -> str:
        """What the provider answers to `keyword` ("STOP", "HELP" or "START"), "" if unknown."""
        texts = {
            "STOP": self.provider_stop_text,
            "HELP": self.provider_help_text,
            "START": self.provider_start_text,
        }
        return (texts.get(keyword) or "").strip()


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
