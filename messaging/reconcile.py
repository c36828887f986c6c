"""Reconciliation: settle messages a dead worker left `sending`, by asking the provider.

A worker killed mid-batch leaves rows whose lease expires. For each, the provider is asked
whether it accepted the message: found, it becomes `sent`; the provider certain it has none, it
is queued again; otherwise (the provider cannot say) it is held for a person. Never blindly
re-sent. Every change is guarded by the expired lease, so a row someone else settled meanwhile
is left alone.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from . import counters
from .keyword_replies import accepted_confirmations_record
from .models import HoldReason, MessageEvent, MessageStatus, OutboundMessage
from .providers import OutboundRequest, ProviderError, get_backend
from .services import record_event


def reconcile_expired_leases(
    *, backend=None, now: datetime | None = None, limit: int = 500
) -> dict:
    """Settle messages left `sending` by a worker that died: never re-send blindly."""
    backend = backend or get_backend()
    now = now or timezone.now()
    outcome = {"sent": 0, "requeued": 0, "held": 0}
    expired = (
        OutboundMessage.objects.filter(status=MessageStatus.SENDING, lease_expires_at__lt=now)
        .select_related("sender")
        .order_by("lease_expires_at")[:limit]
    )
    for message in expired:
        sender = message.sender
        request = OutboundRequest(
            message_id=message.pk,
            to=message.to,
            body=message.body,
            from_number=sender.phone_number if sender else None,
            messaging_service_sid=sender.messaging_service_sid if sender else None,
        )
        try:
            found = backend.find_sent(request, since=message.created_at)
        except (ProviderError, NotImplementedError):
            found, certain = None, False
        else:
            certain = True
        guard = {
            "pk": message.pk,
            "status": MessageStatus.SENDING,
            "lease_expires_at": message.lease_expires_at,
        }
        with transaction.atomic():
            if found is not None:
                changed = OutboundMessage.objects.filter(**guard).update(
                    status=MessageStatus.SENT,
                    provider_sid=found.provider_sid,
                    sent_at=now,
                    lease_expires_at=None,
                )
                kind, key = "sent", "sent"
            elif certain:
                changed = OutboundMessage.objects.filter(**guard).update(
                    status=MessageStatus.QUEUED, next_attempt_at=now, lease_expires_at=None
                )
                kind, key = "not_found_requeued", "requeued"
            else:
                changed = OutboundMessage.objects.filter(**guard).update(
                    status=MessageStatus.HELD,
                    reason=HoldReason.RECONCILE,
                    next_attempt_at=now + timedelta(days=365),
                    lease_expires_at=None,
                )
                kind, key = "unknown_held", "held"
            if changed and found is not None:
                accepted_confirmations_record([(message, now)])  # a reply found is a reply sent
                counters.bump(
                    day=counters.utc_day(now),
                    dims=counters.message_dims(message),
                    **counters.sent_metrics(message),
                )
            if changed:
                record_event(
                    message,
                    MessageEvent.Kind.RECONCILED,
                    reason=kind,
                    data={"sid": found.provider_sid if found else None},
                )
                outcome[key] += 1
    return outcome
