"""Dispatch: hand due messages to the provider, in batches, at most once each.

One call of `dispatch_batch` claims up to `SMS_DISPATCH_BATCH` due messages (queued or held
whose `next_attempt_at` has come) with `SELECT ... FOR UPDATE SKIP LOCKED`, marks them
`sending` under a lease, and for each one, in order:

1. holds it if the recipient's quiet hours, the frequency cap or the sender's daily cap say
   not now (status `held`, `next_attempt_at` = when it may go);
2. takes the sender's rate tokens (waiting for its turn, shared by all workers);
3. asks the consent gate **immediately before** the hand-off: an opt-out committed by then
   blocks the message;
4. hands it over and records the outcome: `sent` with the provider's id; a transient error
   goes back to `queued` with exponential backoff and jitter (until `SMS_MAX_ATTEMPTS`); a
   permanent one fails at once, with its side effects (21610 opt-out, invalid numbers).

A worker killed mid-batch leaves `sending` rows whose lease expires; `reconcile_expired_leases`
asks the provider whether each was accepted: found, it becomes `sent`; the provider certain it
has none, it is queued again; otherwise it is held for a person. Never blindly re-sent.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from consent.models import ConsentState, MessageType
from consent.selectors import Reason, gate
from templates.encoding import analyze

from . import throttle
from .models import (
    BlockReason,
    HoldReason,
    MessageEvent,
    MessageStatus,
    OutboundMessage,
    ReassignedNumberCheck,
)
from .models.outbound import WAITING
from .providers import OutboundRequest, ProviderError, get_backend
from .reassigned import check_reassigned, reassigned_side_effects
from .services import apply_error_side_effects, record_event

log = logging.getLogger(__name__)

_GATE_TO_BLOCK = {
    Reason.NO_CONSENT: BlockReason.NO_CONSENT,
    Reason.OPTED_OUT: BlockReason.OPTED_OUT,
    Reason.PENDING_CONFIRMATION: BlockReason.PENDING_CONFIRMATION,
    Reason.SUPPRESSED: BlockReason.SUPPRESSED,
    Reason.PROGRAM_INACTIVE: BlockReason.PROGRAM_INACTIVE,
    Reason.MESSAGE_TYPE_NOT_COVERED: BlockReason.MESSAGE_TYPE_NOT_COVERED,
    Reason.INVALID_PHONE: BlockReason.INVALID_PHONE,
}


@dataclass
class DispatchReport:
    claimed: int = 0
    sent: int = 0
    held: int = 0
    blocked: int = 0
    retried: int = 0
    failed: int = 0
    campaigns: set[int] = field(default_factory=set)

    def add(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)


def status_callback_url(message_id: int) -> str:
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}/webhooks/twilio/status/?mid={message_id}"


def claim_due(*, limit: int, now: datetime | None = None) -> list[OutboundMessage]:
    """Claim up to `limit` due messages for this worker: they become `sending` under a lease."""
    now = now or timezone.now()
    # A lease value unique to this claim tells our rows apart from another worker's.
    lease = now + timedelta(
        seconds=settings.SMS_LEASE_SECONDS, microseconds=uuid.uuid4().int % 999_983
    )
    runnable = Q(campaign__isnull=True) | Q(campaign__status="sending")
    with transaction.atomic():
        ids = list(
            OutboundMessage.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(runnable, status__in=WAITING, next_attempt_at__lte=now)
            .order_by("next_attempt_at")
            .values_list("pk", flat=True)[:limit]
        )
        if not ids:
            return []
        OutboundMessage.objects.filter(pk__in=ids, status__in=WAITING).update(
            status=MessageStatus.SENDING, lease_expires_at=lease, attempts=F("attempts") + 1
        )
    return list(
        OutboundMessage.objects.filter(
            pk__in=ids, status=MessageStatus.SENDING, lease_expires_at=lease
        )
        .select_related("sender", "program", "contact", "campaign")
        .order_by("next_attempt_at", "pk")
    )


def _settle(
    message: OutboundMessage, *, event: str, fields: dict, why: str = "", data=None
) -> bool:
    """Move a claimed message out of `sending`, guarded by our lease; False if we lost it.

    `fields` are the columns to set; `why` and `data` go on the event row.
    """
    with transaction.atomic():
        updated = OutboundMessage.objects.filter(
            pk=message.pk, status=MessageStatus.SENDING, lease_expires_at=message.lease_expires_at
        ).update(**fields)
        if updated:
            record_event(message, event, reason=why, error_code=fields.get("error_code"), data=data)
    if not updated:
        log.warning(
            "message %s changed under us (lease expired?); outcome %s kept aside", message.pk, event
        )
    return bool(updated)


def _hold(message: OutboundMessage, reason: str, until: datetime) -> None:
    _settle(
        message,
        event=MessageEvent.Kind.HELD,
        why=reason,
        data={"until": until.isoformat()},
        fields={
            "status": MessageStatus.HELD,
            "reason": reason,
            "next_attempt_at": until,
            "lease_expires_at": None,
            "attempts": F("attempts") - 1,  # a hold is not an attempt
        },
    )


def _block(message: OutboundMessage, reason: str) -> None:
    _settle(
        message,
        event=MessageEvent.Kind.BLOCKED,
        why=reason,
        fields={"status": MessageStatus.BLOCKED, "reason": reason, "lease_expires_at": None},
    )


def backoff_seconds(attempts: int, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter: base·2^(n-1), capped, scaled by a random 0.5-1.0."""
    raw = min(settings.SMS_BACKOFF_MAX, settings.SMS_BACKOFF_BASE * 2 ** max(attempts - 1, 0))
    delay = raw * (0.5 + random.random() / 2)
    return max(delay, retry_after or 0.0)


class Dispatcher:
    """Processes claimed messages. One per worker; holds the provider backend and policies."""

    def __init__(
        self,
        *,
        backend=None,
        sleep: Callable[[float], None] = time.sleep,
        policy_hold: Callable[[OutboundMessage, datetime], tuple[str, datetime] | None]
        | None = None,
    ) -> None:
        self.backend = backend or get_backend()
        self.sleep = sleep
        self.policy_hold = policy_hold or default_policy_hold()

    def run_batch(self, *, limit: int | None = None) -> DispatchReport:
        report = DispatchReport()
        messages = claim_due(limit=limit or settings.SMS_DISPATCH_BATCH)
        report.claimed = len(messages)
        for message in messages:
            report.add(self.process(message))
            if message.campaign_id:
                report.campaigns.add(message.campaign_id)
        return report

    def process(self, message: OutboundMessage) -> str:
        now = timezone.now()
        analysis = analyze(message.body)
        message.segments, message.encoding = analysis.segments, analysis.encoding
        hold = self.policy_hold(message, now)
        if hold is not None:
            reason, until = hold
            _hold(message, reason, until)
            return "held"
        sender = message.sender
        if sender is None or not sender.active:
            _block(message, BlockReason.NO_SENDER)
            return "blocked"
        reassigned = self.reassigned_verdict(message, now)
        if reassigned == "blocked":
            _block(message, BlockReason.REASSIGNED)
            return "blocked"
        if reassigned is not None:
            _hold(message, HoldReason.REASSIGNED_CHECK, reassigned)
            return "held"
        if not throttle.use_daily_segments(sender, message.segments, now=now):
            _hold(message, HoldReason.DAILY_CAP, throttle.next_utc_midnight(now))
            return "held"
        rate = message.campaign.throttle_mps if message.campaign_id else None
        wait = throttle.acquire(
            sender, message.segments, rate=min(filter(None, [rate, sender.mps]))
        )
        if wait > 0:
            self.sleep(wait)
        # The last word, right before hand-off: an opt-out committed by now stops it.
        verdict = gate(
            contact_id=message.contact_id,
            phone_hash_=message.contact.phone_hash,
            program=message.program,
            message_type=message.message_type,
        )
        if verdict != Reason.OK:
            _block(message, _GATE_TO_BLOCK.get(verdict, verdict))
            return "blocked"
        return self._hand_off(message)

    def reassigned_verdict(self, message: OutboundMessage, now: datetime):
        """Before marketing to an old consent, ask whether the number changed hands since.

        Returns None (go ahead), "blocked" (reassigned: the number is suppressed and the
        consent revoked), or a time to hold until (no answer yet, or "no data" under a
        hold policy). Every answer is stored as evidence; a recent one is reused.
        """
        if message.message_type != MessageType.MARKETING:
            return None
        days = timedelta(days=settings.REASSIGNED_CHECK_AFTER_DAYS)
        state = (
            ConsentState.objects.filter(
                contact_id=message.contact_id, program_id=message.program_id
            )
            .only("opted_in_at")
            .first()
        )
        if state is None or state.opted_in_at is None or state.opted_in_at > now - days:
            return None
        since = state.opted_in_at.date()
        check = (
            ReassignedNumberCheck.objects.filter(
                phone=message.to, checked_at__gte=now - days, date_asked__lte=since
            )
            .order_by("-checked_at")
            .first()
        )
        if check is None:
            try:
                check = check_reassigned(message.to, since, contact=message.contact)
            except ProviderError:
                return now + timedelta(minutes=15)
        if check.answer == ReassignedNumberCheck.Answer.YES:
            reassigned_side_effects(check)
            return "blocked"
        if (
            check.answer == ReassignedNumberCheck.Answer.NO_DATA
            and settings.REASSIGNED_NO_DATA_POLICY == "hold"
        ):
            return now + timedelta(days=365)  # a person decides
        return None

    def _hand_off(self, message: OutboundMessage) -> str:
        sender = message.sender
        request = OutboundRequest(
            message_id=message.pk,
            to=message.to,
            body=message.body,
            from_number=None if sender.messaging_service_sid else sender.phone_number,
            messaging_service_sid=sender.messaging_service_sid,
            status_callback=status_callback_url(message.pk),
        )
        try:
            result = self.backend.send(request)
        except ProviderError as error:
            return self._failed(message, error)
        _settle(
            message,
            event=MessageEvent.Kind.SENT,
            data={"sid": result.provider_sid},
            fields={
                "status": MessageStatus.SENT,
                "reason": "",
                "provider_sid": result.provider_sid,
                "sent_at": timezone.now(),
                "lease_expires_at": None,
                "segments": message.segments,
                "encoding": message.encoding,
                "price": result.price,
                "price_unit": result.price_unit,
            },
        )
        return "sent"

    def _failed(self, message: OutboundMessage, error: ProviderError) -> str:
        attempts = message.attempts  # this one included: claim_due counted it
        if error.transient and attempts < settings.SMS_MAX_ATTEMPTS:
            delay = backoff_seconds(attempts, error.retry_after)
            _settle(
                message,
                event=MessageEvent.Kind.RETRIED,
                why="transient_error",
                data={
                    "error": str(error)[:200],
                    "http_status": error.http_status,
                    "delay_seconds": round(delay, 2),
                    "attempt": attempts,
                },
                fields={
                    "status": MessageStatus.QUEUED,
                    "next_attempt_at": timezone.now() + timedelta(seconds=delay),
                    "lease_expires_at": None,
                    "error_code": error.code,
                    "error_message": str(error)[:300],
                },
            )
            return "retried"
        settled = _settle(
            message,
            event=MessageEvent.Kind.FAILED,
            why="permanent_error" if not error.transient else "too_many_attempts",
            fields={
                "status": MessageStatus.FAILED,
                "lease_expires_at": None,
                "error_code": error.code,
                "error_message": str(error)[:300],
            },
        )
        if settled and not error.transient:
            apply_error_side_effects(message, error.code)
        return "failed"


def default_policy_hold():
    """Quiet hours and frequency caps from `messaging.policy`."""
    from .policy_hold import policy_hold

    return policy_hold


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
            if changed:
                record_event(
                    message,
                    MessageEvent.Kind.RECONCILED,
                    reason=kind,
                    data={"sid": found.provider_sid if found else None},
                )
                outcome[key] += 1
    return outcome
