"""Inbound messages, status callbacks, conversations and the revocation review queue."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from consent.models import Contact

from .senders import Sender


class InboundMessage(models.Model):
    """One incoming SMS, stored raw. A retried webhook finds its row by `provider_sid` (unique)
    and gets the stored `reply` again instead of being processed twice."""

    class Intent(models.TextChoices):
        OPT_OUT = "opt_out", "Opt-out"
        HELP = "help", "Help"
        OPT_IN = "opt_in", "Opt-in"
        REVIEW = "review", "Possible revocation (review)"
        OTHER = "other", "Other"

    provider_sid = models.CharField(max_length=64, unique=True)
    from_number = models.CharField(max_length=32)
    to_number = models.CharField(max_length=32)
    body = models.TextField(blank=True)
    raw = models.JSONField(default=dict)
    received_at = models.DateTimeField(default=timezone.now)
    body_sha256 = models.CharField(
        max_length=64,
        blank=True,
        default="",
        db_default="",  # set-based inserts (fan-out, webhooks) name only the columns they fill
        help_text="SHA-256 of the body, kept when the body is purged.",
    )
    body_purged_at = models.DateTimeField(null=True, blank=True)
    raw_purged_at = models.DateTimeField(null=True, blank=True)
    contact = models.ForeignKey(
        Contact, on_delete=models.PROTECT, null=True, blank=True, related_name="inbound_messages"
    )
    sender = models.ForeignKey(
        Sender, on_delete=models.PROTECT, null=True, blank=True, related_name="inbound_messages"
    )
    conversation = models.ForeignKey(
        "Conversation", on_delete=models.PROTECT, null=True, blank=True, related_name="inbound"
    )
    intent = models.CharField(max_length=10, choices=Intent.choices, blank=True)
    matched = models.CharField(max_length=100, blank=True, help_text="The rule that decided.")
    reply = models.TextField(
        blank=True, help_text="The reply to this message: ours, or the provider's when known."
    )
    answered_by = models.CharField(
        max_length=8,
        choices=[("", "Nobody"), ("us", "Us (a message we sent)"), ("provider", "The provider")],
        blank=True,
        help_text="Who answered: us (the reply is an outbound message with its delivery "
        "status) or the provider (its own keyword handling).",
    )
    handled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["from_number", "received_at"]),
            models.Index(fields=["received_at"], name="inbound_received_at"),
        ]

    def __str__(self) -> str:
        return f"{self.from_number}: {self.body[:40]}"


class StatusCallback(models.Model):
    """A provider status callback, stored raw; one row per (SID, status): retries are no-ops."""

    provider_sid = models.CharField(max_length=64)
    status = models.CharField(max_length=20)
    error_code = models.PositiveIntegerField(null=True, blank=True)
    raw = models.JSONField(default=dict)
    received_at = models.DateTimeField(default=timezone.now)
    raw_purged_at = models.DateTimeField(null=True, blank=True)
    message = models.ForeignKey(
        "messaging.OutboundMessage",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="callbacks",
    )

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider_sid", "status"], name="status_callback_once_per_status"
            )
        ]

    def __str__(self) -> str:
        return f"{self.provider_sid} {self.status}"


class Conversation(models.Model):
    """A person and one of our numbers, talking. Agents answer from the admin.

    open --agent replies--> waiting --person writes--> open --agent closes--> closed
    (a new message from the person reopens a closed conversation)
    """

    class Status(models.TextChoices):
        OPEN = "open", "Open (needs an answer)"
        WAITING = "waiting", "Waiting for the person"
        CLOSED = "closed", "Closed"

    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="conversations")
    sender = models.ForeignKey(Sender, on_delete=models.PROTECT, related_name="conversations")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="conversations",
    )
    opened_at = models.DateTimeField(default=timezone.now)
    last_message_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_message_at"]
        constraints = [
            models.UniqueConstraint(fields=["contact", "sender"], name="conversation_unique")
        ]
        indexes = [models.Index(fields=["status", "last_message_at"])]

    def __str__(self) -> str:
        return f"{self.contact} ↔ {self.sender}"


class RevocationReview(models.Model):
    """A reply that may be a revocation ("I'm done with these"): a person decides, in time.

    The deadline is 10 business days after receipt (FCC 24-24), federal holidays excluded.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        REVOKED = "revoked", "Treated as opt-out"
        NOT_REVOCATION = "not_revocation", "Not a revocation"

    inbound = models.OneToOneField(
        InboundMessage, on_delete=models.PROTECT, related_name="revocation_review"
    )
    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="+")
    deadline = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["deadline"]
        indexes = [
            models.Index(fields=["deadline"], condition=Q(status="pending"), name="review_pending")
        ]

    def __str__(self) -> str:
        return f"Review of “{self.inbound.body[:30]}” by {self.deadline:%Y-%m-%d}"
