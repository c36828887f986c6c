"""Outbound webhooks to partners: each event written as deliveries (an outbox), signed, retried.

Emit
    `webhook_emit(event_type=..., data=...)` writes one `WebhookDelivery` per enabled
    subscription listening to that type, in the caller's transaction: a committed opt-out always
    has its deliveries, a rolled-back one has none. It costs one SELECT of the (small)
    subscription table, plus one INSERT when someone listens; after commit it queues
    `messaging.tasks.deliver_webhooks`. Every subscription gets the same payload::

        {"id": "<uuid4, one per event>", "type": "consent.opted_out",
         "occurred_at": "2025-01-31T14:03:07.123456+00:00", "data": {...}}

Deliver
    `messaging.partner_webhook_delivery.webhook_deliver_due()` posts due deliveries outside any
    transaction. A 2xx delivers one; anything else is retried after
    `min(WEBHOOK_BACKOFF_BASE_SECONDS * 2**(attempts-1), WEBHOOK_BACKOFF_MAX_SECONDS)` plus up to
    10% jitter, and fails after `WEBHOOK_MAX_ATTEMPTS`. `WEBHOOK_MAX_CONSECUTIVE_FAILURES`
    failed attempts in a row disable the subscription and fail its pending deliveries.
    Delivery is at least once and not in order: partners deduplicate on `id` and order by
    `occurred_at`.

Signature
    `X-SMS-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, f"{t}.{body}")>`, computed
    over the exact bytes of the body; `X-SMS-Event` names the type and `X-SMS-Delivery` the
    delivery (one per subscription and event). `verify_signature` is the partner's check.

Addresses
    Only http and https URLs; redirects are not followed. Unless `WEBHOOK_ALLOW_PRIVATE_URLS`
    (on under DEBUG), a host that resolves to a loopback, private, link-local or reserved
    address is refused, at creation and again before each post. A DNS answer that changes
    between that check and the connection is not caught: an egress proxy is the real fence.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import secrets
import socket
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from config.lib.queueing import enqueue
from consent.models import ConsentKind, ConsentStatus

from . import sql
from .models import (
    ApiClient,
    DeliveryStatus,
    WebhookDelivery,
    WebhookEventType,
    WebhookSubscription,
)

SIGNATURE_HEADER = "X-SMS-Signature"
EVENT_HEADER = "X-SMS-Event"
DELIVERY_HEADER = "X-SMS-Delivery"
#: The test event the admin sends; no subscription needs to list it.
PING = "ping"
DISABLED_ERROR = "subscription disabled"


class WebhookError(ValueError):
    """A subscription change that cannot be made; the message says why. Nothing was written."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


# --- Signing --------------------------------------------------------------------------------


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The `X-SMS-Signature` value for `body` sent at `timestamp` (unix seconds)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def verify_signature(
    secret: str, header: str, body: bytes | str, tolerance: int = 300, now: float | None = None
) -> bool:
    """True if `header` (X-SMS-Signature) signs `body` with `secret` within `tolerance` seconds.

    Self-contained (standard library only) so partners can copy it: pass the raw request body,
    before any JSON parsing. An old timestamp is refused, so a captured request cannot be
    replayed later; the comparison takes constant time.
    """
    if isinstance(body, str):
        body = body.encode()
    parts: dict[str, list[str]] = {}
    for item in (header or "").split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = hmac.new(
        secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    return any(hmac.compare_digest(expected, given) for given in parts.get("v1", []))


# --- Emitting -------------------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookEvent:
    """Something partners may hear about: its type, its data, and when it happened."""

    event_type: str
    data: dict[str, Any]
    occurred_at: datetime | None = None


def webhook_emit(
    *, event_type: str, data: dict[str, Any], occurred_at: datetime | None = None
) -> int:
    """Write one delivery per enabled subscription to `event_type`; returns how many.

    Call it inside the transaction that makes the change: the deliveries commit or roll back
    with it. `data` must be JSON-serialisable (datetimes as ISO strings).
    """
    return webhook_emit_many(events=[WebhookEvent(event_type, data, occurred_at)])


def webhook_emit_many(*, events: Sequence[WebhookEvent]) -> int:
    """`webhook_emit` for several events at once: one SELECT, at most one INSERT."""
    if not events:
        return 0
    for event in events:
        if event.event_type not in WebhookEventType.values and event.event_type != PING:
            raise ValueError(f"Unknown webhook event type {event.event_type!r}.")
    subscriptions = _enabled_subscriptions()
    if not subscriptions:
        return 0
    now = timezone.now()
    rows = []
    for event in events:
        listeners = [pk for pk, types in subscriptions if event.event_type in (types or [])]
        if listeners:
            rows += _deliveries(event, listeners, now)
    if rows:
        WebhookDelivery.objects.bulk_create(rows)
        enqueue("messaging.tasks.deliver_webhooks")
    return len(rows)


def _enabled_subscriptions() -> list[tuple[int, list[str]]]:
    """(id, event types) of every enabled subscription: a handful of rows, filtered in Python
    (JSON `contains` is not available on SQLite). Not cached, so a subscription's changes
    apply to the very next event in every process."""
    with connection.cursor() as cursor:
        cursor.execute(sql.enabled_subscriptions_sql(), [True])
        rows = cursor.fetchall()
    return [
        (pk, json.loads(events) if isinstance(events, str | bytes) else events)
        for pk, events in rows
    ]


def _deliveries(
    event: WebhookEvent, subscription_ids: list[int], now: datetime
) -> list[WebhookDelivery]:
    event_id = uuid.uuid4()
    payload = {
        "id": str(event_id),
        "type": event.event_type,
        "occurred_at": (event.occurred_at or now).isoformat(),
        "data": event.data,
    }
    return [
        WebhookDelivery(
            subscription_id=pk,
            event_id=event_id,
            event_type=event.event_type,
            payload=payload,
            next_attempt_at=now,
            created_at=now,
        )
        for pk in subscription_ids
    ]


def webhook_emit_message_status(
    message: Any, status: str, error_code: int | None, at: datetime | None
) -> int:
    """`message.delivered`, or `message.failed` (failed or undelivered), to partners."""
    delivered = status == "delivered"
    return webhook_emit(
        event_type=WebhookEventType.MESSAGE_DELIVERED
        if delivered
        else WebhookEventType.MESSAGE_FAILED,
        data={
            "message_id": message.pk,
            "to": message.to,
            "status": str(status),
            "error_code": error_code,
            "provider_sid": message.provider_sid,
        },
        occurred_at=at,
    )


def webhook_emit_consent(events: Sequence[Any]) -> int:
    """`consent.opted_in` / `consent.opted_out` for new ledger events (`ConsentEvent`s).

    Pending opt-ins and preference changes are not consent changes partners act on: skipped.
    """
    types = {
        ConsentStatus.OPTED_IN: WebhookEventType.CONSENT_OPTED_IN,
        ConsentStatus.OPTED_OUT: WebhookEventType.CONSENT_OPTED_OUT,
    }
    return webhook_emit_many(
        events=[
            WebhookEvent(
                types[event.resulting_status],
                {
                    "consent_event_id": event.pk,
                    "phone": event.phone,
                    "program": event.program.slug,
                    "kind": event.kind,
                    "method": event.method,
                    "source": event.source,
                    "occurred_at": event.occurred_at.isoformat(),
                },
                event.occurred_at,
            )
            for event in events
            if event.resulting_status in types and event.kind != ConsentKind.PREFERENCE
        ]
    )


# --- Subscriptions --------------------------------------------------------------------------


def check_url(url: str) -> str:
    """The URL, stripped, if deliveries may go there; raises `WebhookError` otherwise."""
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookError("Use an http:// or https:// URL with a host name.", field="url")
    if settings.WEBHOOK_ALLOW_PRIVATE_URLS:
        return url
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, port)}
    except (socket.gaierror, UnicodeError, ValueError) as exc:
        raise WebhookError(f"{parts.hostname} does not resolve ({exc}).", field="url") from exc
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if not ip.is_global or ip.is_multicast:
            raise WebhookError(
                f"{parts.hostname} is a private or local address ({ip}); partners' URLs must be "
                "public (WEBHOOK_ALLOW_PRIVATE_URLS allows them in development).",
                field="url",
            )
    return url


def _check_events(events: Sequence[str]) -> list[str]:
    chosen = sorted(set(events or []))
    unknown = sorted(set(chosen) - set(WebhookEventType.values))
    if unknown:
        raise WebhookError(
            f"Unknown event type(s): {', '.join(unknown)}; choose from "
            f"{', '.join(WebhookEventType.values)}.",
            field="events",
        )
    if not chosen:
        raise WebhookError("Choose at least one event type.", field="events")
    return chosen


def _check_name(name: str) -> str:
    if not (name or "").strip():
        raise WebhookError("A subscription needs a name.", field="name")
    return name.strip()


def webhook_subscription_create(
    *, name: str, url: str, events: Sequence[str], client: ApiClient | None = None
) -> tuple[WebhookSubscription, str]:
    """Subscribe `url` to `events`; returns the subscription and its signing secret.

    Show the secret to the partner once; it is kept (it must be, to sign) but never displayed
    again. Raises `WebhookError` for a blank name, a refused URL or unknown event types.
    """
    secret = secrets.token_hex(32)
    subscription = WebhookSubscription.objects.create(
        name=_check_name(name),
        url=check_url(url),
        events=_check_events(events),
        client=client,
        secret=secret,
    )
    return subscription, secret


def webhook_subscription_update(
    *,
    subscription: WebhookSubscription,
    name: str,
    url: str,
    events: Sequence[str],
    client: ApiClient | None = None,
) -> WebhookSubscription:
    """Change where and what a subscription receives. Pending deliveries go to the new URL."""
    subscription.name = _check_name(name)
    subscription.url = check_url(url)
    subscription.events = _check_events(events)
    subscription.client = client
    subscription.save(update_fields=["name", "url", "events", "client"])
    return subscription


def webhook_subscription_enable(*, subscription: WebhookSubscription) -> bool:
    """Disabled -> enabled, failures counted from zero again. False if it was enabled.

    Deliveries failed while it was disabled stay failed ("retry now" sends one again).
    """
    return bool(
        WebhookSubscription.objects.filter(pk=subscription.pk)
        .filter(Q(active=False) | Q(disabled_at__isnull=False))
        .update(active=True, disabled_at=None, disabled_reason="", consecutive_failures=0)
    )


def webhook_subscription_disable(*, subscription: WebhookSubscription, reason: str) -> bool:
    """Enabled -> disabled by a person; its pending deliveries fail. False if it was disabled."""
    with transaction.atomic():
        done = WebhookSubscription.objects.filter(
            pk=subscription.pk, active=True, disabled_at__isnull=True
        ).update(active=False, disabled_at=timezone.now(), disabled_reason=reason[:300])
        if done:
            fail_pending(subscription.pk)
    return bool(done)


def webhook_secret_rotate(*, subscription: WebhookSubscription) -> str:
    """A new signing secret, in force for the next post; returns it (show it once)."""
    secret = secrets.token_hex(32)
    WebhookSubscription.objects.filter(pk=subscription.pk).update(secret=secret)
    subscription.secret = secret
    return secret


def webhook_ping(*, subscription: WebhookSubscription) -> WebhookDelivery | None:
    """Queue a `ping` event to one enabled subscription (a test); None if it is disabled."""
    if not subscription.enabled:
        return None
    event = WebhookEvent(PING, {"subscription": subscription.name})
    with transaction.atomic():
        (delivery,) = WebhookDelivery.objects.bulk_create(
            _deliveries(event, [subscription.pk], timezone.now())
        )
        enqueue("messaging.tasks.deliver_webhooks")
    return delivery


def webhook_delivery_retry_now(*, delivery: WebhookDelivery) -> bool:
    """Pending or failed -> pending, due now. False if delivered or its subscription is disabled.

    A delivery that had used all its attempts gets one more.
    """
    with transaction.atomic():
        done = WebhookDelivery.objects.filter(
            pk=delivery.pk,
            status__in=[DeliveryStatus.PENDING, DeliveryStatus.FAILED],
            subscription__active=True,
            subscription__disabled_at__isnull=True,
        ).update(status=DeliveryStatus.PENDING, next_attempt_at=timezone.now())
        if done:
            enqueue("messaging.tasks.deliver_webhooks")
    return bool(done)


def fail_pending(subscription_id: int) -> int:
    return WebhookDelivery.objects.filter(
        subscription_id=subscription_id, status=DeliveryStatus.PENDING
    ).update(status=DeliveryStatus.FAILED, last_error=DISABLED_ERROR)


__all__ = [
    "DELIVERY_HEADER",
    "DISABLED_ERROR",
    "EVENT_HEADER",
    "PING",
    "SIGNATURE_HEADER",
    "WebhookError",
    "WebhookEvent",
    "check_url",
    "fail_pending",
    "sign",
    "verify_signature",
    "webhook_delivery_retry_now",
    "webhook_emit",
    "webhook_emit_consent",
    "webhook_emit_many",
    "webhook_ping",
    "webhook_secret_rotate",
    "webhook_subscription_create",
    "webhook_subscription_disable",
    "webhook_subscription_enable",
    "webhook_subscription_update",
]
