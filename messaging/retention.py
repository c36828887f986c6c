"""Records retention: message bodies and raw provider payloads are kept for a set time, then
purged; the proof stays.

Every day `retention_purge` (task `messaging.tasks.purge_expired_records`) blanks, in batches:

- the body of each outbound message created more than `RETENTION_MESSAGE_BODY_DAYS` ago that
  can no longer be sent (not queued, held or sending), keeping its SHA-256 in `body_sha256`;
- the body of each inbound message received that long ago (its SHA-256 kept likewise);
- the raw payload of inbound messages and status callbacks older than
  `RETENTION_WEBHOOK_PAYLOAD_DAYS`.

A purged row says when (`body_purged_at`, `raw_purged_at`), so the evidence pack can still show
what was sent by its hash. It never touches the consent ledger, its confirmations, the derived
consent states or suppressions: those are the legal record, kept for as long as the law asks.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .models import InboundMessage, OutboundMessage, StatusCallback
from .models.outbound import WAITING, MessageStatus


@dataclass
class PurgeReport:
    outbound_bodies: int = 0
    inbound_bodies: int = 0
    inbound_payloads: int = 0
    callback_payloads: int = 0
    more: bool = False


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def retention_purge(
    *, now: datetime | None = None, batch: int | None = None, budget_seconds: float = 60.0
) -> PurgeReport:
    """Purge what is past its retention, one committed batch at a time, until done or out of
    time (`more` then says a next run has work left)."""
    now = now or timezone.now()
    batch = batch or settings.RETENTION_PURGE_BATCH
    bodies_before = now - timedelta(days=settings.RETENTION_MESSAGE_BODY_DAYS)
    payloads_before = now - timedelta(days=settings.RETENTION_WEBHOOK_PAYLOAD_DAYS)
    report = PurgeReport()
    deadline = time.monotonic() + budget_seconds
    steps = [
        ("outbound_bodies", lambda: _outbound_bodies(bodies_before, now, batch)),
        ("inbound_bodies", lambda: _inbound_bodies(bodies_before, now, batch)),
        ("inbound_payloads", lambda: _payloads(InboundMessage, payloads_before, now, batch)),
        ("callback_payloads", lambda: _payloads(StatusCallback, payloads_before, now, batch)),
    ]
    for name, step in steps:
        while True:
            if time.monotonic() > deadline:
                report.more = True
                return report
            done = step()
            setattr(report, name, getattr(report, name) + done)
            if done < batch:
                break
    return report


def _outbound_bodies(before: datetime, now: datetime, batch: int) -> int:
    with transaction.atomic():
        rows = list(
            OutboundMessage.objects.filter(created_at__lt=before, body_purged_at__isnull=True)
            .exclude(status__in=[*WAITING, MessageStatus.SENDING])
            .order_by("pk")
            .select_for_update(skip_locked=True)
            .only("pk", "body")[:batch]
        )
        for message in rows:
            message.body_sha256 = _sha256(message.body)
            message.body = ""
            message.body_purged_at = now
        OutboundMessage.objects.bulk_update(rows, ["body", "body_sha256", "body_purged_at"])
    return len(rows)


def _inbound_bodies(before: datetime, now: datetime, batch: int) -> int:
    with transaction.atomic():
        rows = list(
            InboundMessage.objects.filter(received_at__lt=before, body_purged_at__isnull=True)
            .order_by("pk")
            .select_for_update(skip_locked=True)
            .only("pk", "body")[:batch]
        )
        for message in rows:
            message.body_sha256 = _sha256(message.body)
            message.body = ""
            message.body_purged_at = now
        InboundMessage.objects.bulk_update(rows, ["body", "body_sha256", "body_purged_at"])
    return len(rows)


def _payloads(model, before: datetime, now: datetime, batch: int) -> int:
    """Blank the raw provider payload of rows received before `before` (a guarded UPDATE)."""
    with transaction.atomic():
        ids = list(
            model.objects.filter(received_at__lt=before, raw_purged_at__isnull=True)
            .order_by("pk")
            .select_for_update(skip_locked=True)
            .values_list("pk", flat=True)[:batch]
        )
        return model.objects.filter(pk__in=ids, raw_purged_at__isnull=True).update(
            raw={}, raw_purged_at=now
        )
