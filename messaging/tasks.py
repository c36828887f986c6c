"""django-q2 tasks of the messaging app: one task per batch of messages, never one per message."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings

from config.lib.queueing import enqueue

from . import counters
from .dispatch import Dispatcher
from .models import IdempotencyRecord
from .partner_webhook_delivery import webhook_deliver_due
from .prices import prices_fetch
from .reconcile import reconcile_expired_leases
from .retention import retention_purge

log = logging.getLogger(__name__)

#: Told, in order, after each dispatch batch, of every campaign the batch sent for. Campaigns
#: registers `campaign_complete_if_done` and then its incident check from its
#: AppConfig.ready(), so messaging never imports them.
campaign_batch_hooks: list[Callable[..., object]] = []


def dispatch() -> dict:
    """Claim and process one batch; a full batch queues the next one (continuation)."""
    report = Dispatcher().run_batch()
    for campaign_id in report.campaigns:
        for hook in campaign_batch_hooks:
            # The batch is settled by now; hooks only follow it up. One that fails is logged
            # with its traceback, and the other hooks, the other campaigns' and the
            # continuation still run: one campaign's follow-up must not skip another's
            # incident check nor hold up everyone's sending. Raising would not retry it anyway
            # (failed tasks are acknowledged, `ack_failures`); the incidents schedule checks
            # every sending campaign again within the minute.
            try:
                hook(campaign_id=campaign_id)
            except Exception:
                log.exception("Batch hook %r failed for campaign %s", hook, campaign_id)
    if report.claimed >= settings.SMS_DISPATCH_BATCH:
        enqueue("messaging.tasks.dispatch")
    return report.__dict__ | {"campaigns": sorted(report.campaigns)}


def fetch_prices() -> dict:
    """Store the provider's price of recently sent messages (every 5 minutes)."""

    return prices_fetch()


def reconcile_leases() -> dict:
    """Settle messages a dead worker left in `sending` (every minute)."""
    return reconcile_expired_leases()


def deliver_webhooks() -> dict:
    """Post one batch of due partner webhooks (every minute, and after each event is written);
    a full batch, or one cut short by its time budget, queues the next one (continuation)."""
    report = webhook_deliver_due()
    if report.more:
        enqueue("messaging.tasks.deliver_webhooks")
    return report.__dict__


def prune_idempotency_records() -> int:
    """Forget stored API responses older than `API_IDEMPOTENCY_TTL_HOURS` (hourly)."""
    from datetime import timedelta

    from django.utils import timezone

    cutoff = timezone.now() - timedelta(hours=settings.API_IDEMPOTENCY_TTL_HOURS)
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted


def purge_expired_records() -> dict:
    """Purge message bodies and raw payloads past their retention (daily; see
    messaging/retention.py); a run cut short by its time budget queues the next one."""
    report = retention_purge(budget_seconds=90)
    if report.more:
        enqueue("messaging.tasks.purge_expired_records")
    return report.__dict__


def squash_counters() -> int:
    """Fold the daily counters' new rows into one row per key (every minute); a full batch
    queues the next one."""
    limit = 5000
    keys = counters.squash(limit=limit)
    if keys >= limit:
        enqueue("messaging.tasks.squash_counters")
    return keys
