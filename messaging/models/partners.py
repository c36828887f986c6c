"""Partner systems: API clients, the idempotency store, and outbound webhook subscriptions.

An `ApiClient`'s key is shown once, when it is made; only its SHA-256 is stored (keys are 32
random bytes, so a slow hash would add nothing), beside a short visible prefix that names it in
logs and in the admin. Revoking is a timestamp, never a delete: past records name the client.

A `WebhookDelivery` is written in the same transaction as the change it reports (an outbox),
so a committed opt-out always has its delivery row. Its lifecycle::

    pending --2xx--> delivered
    pending --error, attempts left--> pending (next_attempt_at pushed back, exponentially)
    pending --error, no attempts left | subscription disabled--> failed
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from config.lib.process_cache import ProcessCache

#: How long a process trusts a key it has looked up. Revoking or rotating a key clears it in the
#: process that did it; other processes refuse the old key within this many seconds.
KEY_CACHE_SECONDS = 10.0

#: Active clients by key hash, as this process last looked them up (`messaging.api_clients`).
client_cache: ProcessCache[ApiClient] = ProcessCache(
    "API clients by key", seconds=KEY_CACHE_SECONDS
)


def forget_client(key_hash: str | None = None) -> None:
    """Drop a cached key (after a revocation or rotation), or every cached key."""
    client_cache.forget(key_hash)


class Scope(models.TextChoices):
    CONSENT_READ = "consent:read", "Read consent"
    CONSENT_WRITE = "consent:write", "Record opt-ins and opt-outs, upsert contacts"
    MESSAGES_SEND = "messages:send", "Send transactional messages"
    EVENTS_WRITE = "events:write", "Report events that trigger flows"
    EXPORTS_READ = "exports:read", "Export the opt-out log"


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ApiClient(models.Model):
    """One partner system (CRM, shop, website) and its key."""

    name = models.CharField(max_length=120, unique=True)
    prefix = models.CharField(
        max_length=16, unique=True, editable=False, help_text="Visible start of the key."
    )
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    scopes = models.JSONField(default=list, help_text="What this client may do.")
    rate_per_minute = models.PositiveIntegerField(
        default=600, help_text="Requests per minute before the API answers 429."
    )
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
    )
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
    )

    class Meta:
        ordering = ["name"]
        verbose_name = "API client"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def save(self, *args, **kwargs) -> None:
        super().save(*args, **kwargs)
        forget_client(self.key_hash)  # new scopes or rate apply to the next request here

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def has_scope(self, scope: str) -> bool:
        return scope in (self.scopes or [])


class IdempotencyRecord(models.Model):
    """The first response to a POST carrying an `Idempotency-Key`, replayed for repeats.

    The unique constraint is the lock: a concurrent repeat waits on the first one's insert and
    then finds its stored answer. Records are pruned after `API_IDEMPOTENCY_TTL_HOURS`.
    """

    client = models.ForeignKey(ApiClient, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64, help_text="SHA-256 of the request body.")
    status_code = models.PositiveSmallIntegerField(null=True)
    response = models.JSONField(null=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["client", "key"], name="idempotency_key_per_client")
        ]
        indexes = [models.Index(fields=["created_at"])]

    def __str__(self) -> str:
        return f"{self.method} {self.path} · {self.key}"


class WebhookEventType(models.TextChoices):
    CONSENT_OPTED_IN = "consent.opted_in", "consent.opted_in"
    CONSENT_OPTED_OUT = "consent.opted_out", "consent.opted_out"
    MESSAGE_DELIVERED = "message.delivered", "message.delivered"
    MESSAGE_FAILED = "message.failed", "message.failed"
    CONVERSATION_OPENED = "conversation.opened", "conversation.opened"
    INCIDENT_OPENED = "incident.opened", "incident.opened"


class WebhookSubscription(models.Model):
    """A partner URL that receives some event types, signed with this subscription's secret.

    After `WEBHOOK_MAX_CONSECUTIVE_FAILURES` failed attempts in a row it is disabled
    (`disabled_at`); re-enabling it is an admin action that resets the count.
    """

    client = models.ForeignKey(
        ApiClient, on_delete=models.PROTECT, null=True, blank=True, related_name="webhooks"
    )
    name = models.CharField(max_length=120)
    url = models.URLField(max_length=500)
    events = models.JSONField(default=list, help_text="Event types sent to this URL.")
    secret = models.CharField(
        max_length=64, editable=False, help_text="Signs each delivery (HMAC-SHA256)."
    )
    active = models.BooleanField(default=True)
    consecutive_failures = models.PositiveIntegerField(default=0, editable=False)
    disabled_at = models.DateTimeField(null=True, blank=True, editable=False)
    disabled_reason = models.CharField(max_length=300, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} → {self.url}"

    @property
    def enabled(self) -> bool:
        return self.active and self.disabled_at is None


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class WebhookDelivery(models.Model):
    """One event for one subscription, and what happened when we posted it."""

    subscription = models.ForeignKey(
        WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    event_id = models.UUIDField(help_text="The same for every subscription that got the event.")
    event_type = models.CharField(max_length=40, choices=WebhookEventType.choices)
    payload = models.JSONField()
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="pending"),
                name="webhook_delivery_due",
            ),
            models.Index(fields=["subscription", "created_at"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "event_id"], name="webhook_delivery_once_per_event"
            ),
            models.CheckConstraint(
                condition=Q(status__in=DeliveryStatus.values), name="webhook_delivery_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} → {self.subscription.name} ({self.status})"
