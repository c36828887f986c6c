"""Posting partner webhooks: claim due deliveries, post them signed, settle each outcome.

Entry point: `webhook_deliver_due()`, run by the `messaging.tasks.deliver_webhooks` task every
minute and after each event is written (`messaging.partner_webhooks` writes the deliveries).

A run claims a batch of due deliveries under a lease: their `next_attempt_at` moves past the
run's end, under `select_for_update(skip_locked=True)` (plain on SQLite), in a short transaction.
Each is then posted with no transaction open, and settled by an update guarded by that lease
(0 rows: someone pressed "retry now" meanwhile, and that attempt counts instead). A worker that
dies leaves its rows due again when the lease ends: delivery is at least once.

Outcomes (lifecycle in `messaging.models.partners`)
    2xx        delivered; the subscription's `consecutive_failures` back to 0.
    otherwise  another status, a redirect (never followed), a timeout, a refused address: a
               failed attempt. Retried after `backoff(attempts)`, `failed` after
               `WEBHOOK_MAX_ATTEMPTS`; `consecutive_failures` + 1, and at
               `WEBHOOK_MAX_CONSECUTIVE_FAILURES` the subscription is disabled and its pending
               deliveries fail ("subscription disabled").
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import requests
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .models import DeliveryStatus, WebhookDelivery, WebhookSubscription
from .partner_webhooks import (
    DELIVERY_HEADER,
    DISABLED_ERROR,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    WebhookError,
    check_url,
    fail_pending,
    sign,
)

logger = logging.getLogger(__name__)

#: Deliveries one task claims.
BATCH_SIZE = 50
#: A run stops posting after this long (the task's timeout is 110 s; one post may take
#: `WEBHOOK_TIMEOUT_SECONDS` more) and hands what is left to the next run.
TIME_BUDGET_SECONDS = 60.0
USER_AGENT = "sms-backoffice-webhooks/1.0"


@dataclass
class DeliveryReport:
    """What one run did. `more`: a full batch, or one cut short; the task queues another."""

    claimed: int = 0
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    deferred: int = 0
    disabled: list[int] = field(default_factory=list)
    more: bool = False


@dataclass(frozen=True)
class _Outcome:
    status_code: int | None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def backoff(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed attempt: doubling from the base, capped, +<=10%."""
    delay = min(
        settings.WEBHOOK_BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0),
        settings.WEBHOOK_BACKOFF_MAX_SECONDS,
    )
    return timedelta(seconds=delay * (1 + random.uniform(0, 0.1)))


def webhook_deliver_due(
    *, limit: int | None = None, budget_seconds: float | None = None
) -> DeliveryReport:
    """Claim up to `limit` due deliveries and post them, one after the other.

    After a subscription's first failure in this run, its other claimed deliveries wait for
    that one's retry time (not counted as attempts): one dead endpoint costs one timeout per
    run, not one per delivery.
    """
    limit = limit or BATCH_SIZE
    budget_seconds = TIME_BUDGET_SECONDS if budget_seconds is None else budget_seconds
    started = time.monotonic()
    claimed, lease = _claim(limit)
    report = DeliveryReport(claimed=len(claimed), more=len(claimed) >= limit)
    failing: dict[int, datetime] = {}  # subscription id -> when its deliveries are due again
    disabled: set[int] = set()
    with requests.Session() as session:
        for index, delivery in enumerate(claimed):
            subscription = delivery.subscription
            if time.monotonic() - started > budget_seconds:
                _release(claimed[index:], lease, at=timezone.now())
                report.deferred += len(claimed) - index
                report.more = True
                break
            if subscription.pk in disabled or not subscription.enabled:
                _settle_disabled(delivery, lease)
                report.failed += 1
            elif subscription.pk in failing:
                _release([delivery], lease, at=failing[subscription.pk])
                report.deferred += 1
            else:
                outcome = _post(session, delivery)
                if outcome.ok:
                    report.delivered += _settle_delivered(delivery, lease, outcome)
                else:
                    retry_at, disabled_now = _settle_failed(delivery, lease, outcome)
                    if retry_at is None:
                        report.failed += 1
                    else:
                        report.retrying += 1
                        failing[subscription.pk] = retry_at
                    if disabled_now:
                        disabled.add(subscription.pk)
                        report.disabled.append(subscription.pk)
    return report


def _lease_seconds() -> float:
    return TIME_BUDGET_SECONDS + 2 * settings.WEBHOOK_TIMEOUT_SECONDS + 60


def _claim(limit: int) -> tuple[list[WebhookDelivery], datetime]:
    """Due deliveries, leased to this run: their `next_attempt_at` moves past the run's end."""
    now = timezone.now()
    # A value unique to this claim tells our rows apart from another run's.
    lease = now + timedelta(seconds=_lease_seconds(), microseconds=uuid.uuid4().int % 999_983)
    with transaction.atomic():
        ids = list(
            WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
            .order_by("next_attempt_at")
            .values_list("pk", flat=True)[:limit]
        )
        if not ids:
            return [], lease
        WebhookDelivery.objects.filter(pk__in=ids, status=DeliveryStatus.PENDING).update(
            next_attempt_at=lease
        )
    claimed = WebhookDelivery.objects.filter(
        pk__in=ids, status=DeliveryStatus.PENDING, next_attempt_at=lease
    )
    return list(claimed.select_related("subscription").order_by("pk")), lease


def _mine(delivery: WebhookDelivery, lease: datetime):
    return WebhookDelivery.objects.filter(
        pk=delivery.pk, status=DeliveryStatus.PENDING, next_attempt_at=lease
    )


def _release(deliveries: list[WebhookDelivery], lease: datetime, *, at: datetime) -> None:
    WebhookDelivery.objects.filter(
        pk__in=[d.pk for d in deliveries], status=DeliveryStatus.PENDING, next_attempt_at=lease
    ).update(next_attempt_at=at)


def _body(delivery: WebhookDelivery) -> bytes:
    return json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False).encode()


def _post(session: requests.Session, delivery: WebhookDelivery) -> _Outcome:
    """POST the signed payload; no database transaction is open here."""
    subscription = delivery.subscription
    try:
        url = check_url(subscription.url)
    except WebhookError as exc:
        return _Outcome(None, f"refused: {exc}")
    body = _body(delivery)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: sign(subscription.secret, body, int(time.time())),
        EVENT_HEADER: delivery.event_type,
        DELIVERY_HEADER: str(delivery.pk),
    }
    try:
        with session.post(
            url,
            data=body,
            headers=headers,
            timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
            allow_redirects=False,
            stream=True,  # the partner's answer is read only as far as we keep it
        ) as response:
            code = response.status_code
            said = "" if 200 <= code < 300 else _start_of(response)
    except requests.Timeout:
        return _Outcome(None, f"timed out after {settings.WEBHOOK_TIMEOUT_SECONDS:g} s")
    except requests.RequestException as exc:
        return _Outcome(None, f"{type(exc).__name__}: {exc}"[:500])
    if 200 <= code < 300:
        return _Outcome(code)
    return _Outcome(code, f"HTTP {code}" + (f": {said}" if said else ""))


def _start_of(response: requests.Response, size: int = 200) -> str:
    try:
        text = response.raw.read(size, decode_content=True)
    except Exception:
        return ""
    return " ".join(text.decode("utf-8", "replace").split())


def _settle_delivered(delivery: WebhookDelivery, lease: datetime, outcome: _Outcome) -> int:
    with transaction.atomic():
        done = _mine(delivery, lease).update(
            status=DeliveryStatus.DELIVERED,
            attempts=F("attempts") + 1,
            last_status_code=outcome.status_code,
            last_error="",
            delivered_at=timezone.now(),
        )
        if done:
            WebhookSubscription.objects.filter(pk=delivery.subscription_id).exclude(
                consecutive_failures=0
            ).update(consecutive_failures=0)
    return done


def _settle_failed(
    delivery: WebhookDelivery, lease: datetime, outcome: _Outcome
) -> tuple[datetime | None, bool]:
    """Count a failed attempt. Returns (when it is retried, None if it failed; whether the
    subscription was disabled by it)."""
    now = timezone.now()
    attempts = delivery.attempts + 1
    retry_at = None if attempts >= settings.WEBHOOK_MAX_ATTEMPTS else now + backoff(attempts)
    fields: dict[str, Any] = {
        "attempts": F("attempts") + 1,
        "last_status_code": outcome.status_code,
        "last_error": outcome.error[:500],
    }
    if retry_at is None:
        fields["status"] = DeliveryStatus.FAILED
    else:
        fields["next_attempt_at"] = retry_at
    limit = settings.WEBHOOK_MAX_CONSECUTIVE_FAILURES
    with transaction.atomic():
        if not _mine(delivery, lease).update(**fields):
            return retry_at, False  # retried by hand meanwhile: that attempt counts instead
        subscription = WebhookSubscription.objects.filter(pk=delivery.subscription_id)
        subscription.update(consecutive_failures=F("consecutive_failures") + 1)
        disabled = subscription.filter(
            disabled_at__isnull=True, consecutive_failures__gte=limit
        ).update(
            disabled_at=now,
            disabled_reason=f"{limit} failed attempts in a row; last: {outcome.error}"[:300],
        )
        if disabled:
            # This one keeps its own error; the others say why they were not tried.
            WebhookDelivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.FAILED)
            fail_pending(delivery.subscription_id)
            logger.warning(
                "Webhook subscription %s disabled: %s", delivery.subscription_id, outcome.error
            )
    return retry_at, bool(disabled)


def _settle_disabled(delivery: WebhookDelivery, lease: datetime) -> None:
    _mine(delivery, lease).update(status=DeliveryStatus.FAILED, last_error=DISABLED_ERROR)


__all__ = ["BATCH_SIZE", "DeliveryReport", "backoff", "webhook_deliver_due"]
