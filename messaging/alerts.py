"""Raise an operator alert: one row per (kind, subject), counted, with a WARNING log line.

Messaging and the apps above it call `alert_raise`; staff see the alerts in the admin
(Messaging -> Operator alerts), newest first, and acknowledge them there. Call it inside the
transaction of what it reports, so a rolled-back request (a retried webhook) leaves no count behind.
"""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from config.lib.text import storable

from .models import OperatorAlert

logger = logging.getLogger("messaging.alerts")

_SUBJECT_MAX = OperatorAlert._meta.get_field("subject").max_length


def alert_raise(*, kind: str, subject: str, detail: str = "") -> OperatorAlert:
    """Record one occurrence of `kind` about `subject`: insert the alert, or count it, move its
    `last_seen` and reopen it. Logs a WARNING each time. Safe under concurrent calls."""
    if kind not in OperatorAlert.Kind.values:
        raise ValueError(f"{kind!r} is not an operator alert kind.")
    subject, detail = storable(subject)[:_SUBJECT_MAX], storable(detail)
    logger.warning("Operator alert %s: %s. %s", kind, subject, detail)
    now = timezone.now()
    for _ in range(2):
        if _count(kind, subject, detail, now):
            return OperatorAlert.objects.get(kind=kind, subject=subject)
        try:
            with transaction.atomic():
                return OperatorAlert.objects.create(
                    kind=kind, subject=subject, detail=detail, first_seen=now, last_seen=now
                )
        except IntegrityError:
            continue  # raised at the same moment elsewhere: count it on the second pass
    raise RuntimeError(f"Operator alert {kind} {subject}: neither inserted nor counted.")


def _count(kind: str, subject: str, detail: str, now) -> int:
    return OperatorAlert.objects.filter(kind=kind, subject=subject).update(
        count=F("count") + 1,
        last_seen=now,
        detail=detail,
        status=OperatorAlert.Status.OPEN,
        acknowledged_at=None,
        acknowledged_by=None,
    )
