"""Outbound messages and their event log.

Lifecycle of an `OutboundMessage`::

    queued --claim--> sending --provider accepted--> sent --callback--> delivered
       ^                 |                             |--callback--> undelivered | failed
       |                 |                             \\--callback 30036--> expired
       |                 |--transient error (retry, backoff)--> queued
       |                 |--permanent error--> failed
       |                 \\--gate refuses at hand-off--> blocked (reason)
       \\--window opens-- held (quiet hours, frequency cap, daily cap)
    queued | held --opt-out, campaign cancelled--> cancelled
    (fan-out) --gate refuses--> blocked (reason)

Every row that did not go out says why (`reason`), so "why did (or didn't) this person get this
message?" has an answer. The provider SID is unique: a repeated status callback finds one row.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from consent.models import Contact, MessageType, Program
from consent.selectors import Reason

from .senders import Sender


class MessageStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    HELD = "held", "Held"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    DELIVERED = "delivered", "Delivered"
    UNDELIVERED = "undelivered", "Undelivered"
    FAILED = "failed", "Failed"
    EXPIRED = "expired", "Expired in the provider's queue"
    BLOCKED = "blocked", "Blocked"
    CANCELLED = "cancelled", "Cancelled"


#: Statuses from which a message may still be handed to the provider.
WAITING = (MessageStatus.QUEUED, MessageStatus.HELD)
#: Statuses after hand-off.
HANDED_OFF = (
    MessageStatus.SENT,
    MessageStatus.DELIVERED,
    MessageStatus.UNDELIVERED,
    MessageStatus.FAILED,
    MessageStatus.EXPIRED,
)


class HoldReason(models.TextChoices):
    QUIET_HOURS = "quiet_hours", "Quiet hours"
    FREQUENCY_CAP = "frequency_cap", "Frequency cap"
    DAILY_CAP = "daily_cap", "Sender daily cap"
    RECONCILE = "reconcile", "Hand-off unknown: needs a person"
    REASSIGNED_CHECK = "reassigned_check", "Reassigned-number check pending"
    LOCAL_TIME = "local_time", "Waiting for the recipient's local send time"
    UNREGISTERED_SENDER = "unregistered_sender", "No approved registration covers the sender"


#: Why a message was blocked or cancelled: the one reason enum, shared with the consent gate.
BlockReason = Reason


class MessageKind(models.TextChoices):
    """Why a message exists at all."""

    CAMPAIGN = "campaign", "Campaign"
    FLOW = "flow", "Flow"
    API = "api", "API"
    AGENT_REPLY = "agent_reply", "Agent reply"
    AUTO_REPLY = "auto_reply", "Automatic reply (STOP/HELP/START)"
    TEST = "test", "Test send"


class OutboundMessage(models.Model):
    """One message to one person, sent or not (see the module docstring for its lifecycle).

    The foreign keys carry no database constraint: fan-out inserts a million rows at a time,
    and per-row key checks (each locking the referenced row) cost 3.5x the insert itself
    (bench/bench_fanout.py). The rows they point at are never deleted: on_delete=PROTECT
    guards every ORM delete, and contacts and programs are held by the consent ledger's own
    database constraints.
    """

    contact = models.ForeignKey(
        Contact,
        on_delete=models.PROTECT,
        related_name="messages",
        db_index=False,
        db_constraint=False,
    )
    to = models.CharField(max_length=16)
    sender = models.ForeignKey(
        Sender,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="messages",
        db_index=False,
        db_constraint=False,
    )
    program = models.ForeignKey(
        Program,
        on_delete=models.PROTECT,
        related_name="messages",
        db_index=False,
        db_constraint=False,
    )
    message_type = models.CharField(max_length=20, choices=MessageType.choices)
    kind = models.CharField(max_length=20, choices=MessageKind.choices)
    template_version = models.ForeignKey(
        "templates.TemplateVersion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        db_index=False,
        db_constraint=False,
        related_name="messages",
    )
    campaign = models.ForeignKey(
        "campaigns.Campaign",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        db_index=False,
        db_constraint=False,
        related_name="messages",
    )
    variant = models.ForeignKey(
        "campaigns.CampaignVariant",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        db_index=False,
        db_constraint=False,
        related_name="messages",
    )
    flow = models.ForeignKey(
        "campaigns.Flow",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        db_index=False,
        db_constraint=False,
        related_name="messages",
        help_text="The flow that sent it (its counts and tracked links are the flow's too).",
    )
    in_reply_to = models.ForeignKey(
        "messaging.InboundMessage",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        db_index=False,
        db_constraint=False,
        related_name="replies",
    )
    body = models.TextField()
    body_sha256 = models.CharField(
        max_length=64,
        blank=True,
        default="",
        db_default="",  # set-based inserts (fan-out, webhooks) name only the columns they fill
        help_text="SHA-256 of the body, kept when the body is purged.",
    )
    body_purged_at = models.DateTimeField(null=True, blank=True)
    encoding = models.CharField(max_length=8, blank=True)
    segments = models.PositiveSmallIntegerField(default=1)
    status = models.CharField(
        max_length=12, choices=MessageStatus.choices, default=MessageStatus.QUEUED
    )
    reason = models.CharField(max_length=40, blank=True, help_text="Why held, blocked or sent.")
    provider_sid = models.CharField(max_length=64, null=True, blank=True)
    error_code = models.PositiveIntegerField(null=True, blank=True)
    error_message = models.CharField(max_length=300, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    price = models.DecimalField(max_digits=10, decimal_places=5, null=True, blank=True)
    price_unit = models.CharField(max_length=3, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            # The dispatch claim: due rows that may still go out, nothing else
            # (docs/performance.md#queries-on-hot-paths).
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status__in=["queued", "held"]),
                name="outbound_due",
            ),
            models.Index(
                fields=["lease_expires_at"],
                condition=Q(status="sending"),
                name="outbound_leased",
            ),
            # Handed-off messages still waiting for the provider's price (few at a time).
            models.Index(
                fields=["sent_at"],
                condition=Q(price__isnull=True, provider_sid__isnull=False),
                name="outbound_price_pending",
            ),
            models.Index(fields=["campaign", "status"]),
            models.Index(fields=["contact", "program", "sent_at"]),
            # The home page's last-7-days figures: date ranges over handed-off rows only, so
            # fan-out's inserts (no sent_at yet) never touch them.
            models.Index(
                fields=["sent_at"], condition=Q(sent_at__isnull=False), name="outbound_sent_at"
            ),
            models.Index(
                fields=["delivered_at"],
                condition=Q(delivered_at__isnull=False),
                name="outbound_delivered_at",
            ),
        ]
        # Every index costs on fan-out's bulk insert: the foreign keys carry none of their
        # own (each is led by a composite index above or never filtered on alone).
        constraints = [
            # A repeated status callback finds one row; unsent rows (no SID) stay out of it.
            models.UniqueConstraint(
                fields=["provider_sid"],
                condition=Q(provider_sid__isnull=False),
                name="outbound_provider_sid_unique",
            ),
            # Fan-out is resumable: a campaign reaches a contact at most once.
            models.UniqueConstraint(
                fields=["campaign", "contact"],
                condition=Q(campaign__isnull=False),
                name="one_message_per_campaign_contact",
            ),
            models.CheckConstraint(
                condition=Q(status__in=MessageStatus.values), name="outbound_status_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["held", "blocked", "cancelled"]) | ~Q(reason=""),
                name="outbound_held_blocked_has_reason",
            ),
            models.CheckConstraint(
                condition=~Q(status="sending") | Q(lease_expires_at__isnull=False),
                name="outbound_sending_has_lease",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["sent", "delivered", "undelivered", "expired"])
                | Q(provider_sid__isnull=False),
                name="outbound_handed_off_has_sid",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} to {self.to} ({self.get_status_display()})"


class MessageEvent(models.Model):
    """What happened to a message, in order. Status callbacks append here idempotently."""

    class Kind(models.TextChoices):
        QUEUED = "queued", "Queued"
        HELD = "held", "Held"
        RELEASED = "released", "Released"
        SENDING = "sending", "Handed to provider"
        SENT = "sent", "Sent"
        DELIVERED = "delivered", "Delivered"
        UNDELIVERED = "undelivered", "Undelivered"
        FAILED = "failed", "Failed"
        EXPIRED = "expired", "Expired"
        BLOCKED = "blocked", "Blocked"
        RETRIED = "retried", "Retry scheduled"
        CANCELLED = "cancelled", "Cancelled"
        RECONCILED = "reconciled", "Reconciled"
        CALLBACK = "callback", "Status callback"
        REASSIGNED = "reassigned", "Reassigned-number check"

    message = models.ForeignKey(OutboundMessage, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    at = models.DateTimeField(default=timezone.now)
    reason = models.CharField(max_length=40, blank=True)
    error_code = models.PositiveIntegerField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["message", "at"])]

    def __str__(self) -> str:
        return f"{self.message_id}: {self.kind}"
