"""Provider status callbacks: apply each once, in order, to the message they are about.

Entry point: `status_callback_receive(params=...)`, called by the webhook view after the
signature is checked.

Once
    A `StatusCallback` row is inserted first (unique per SID and status) in the transaction
    that applies it, so a retried callback fails the insert and changes nothing.

In order
    Twilio does not promise callbacks arrive in order. Statuses rank
    queued < sending < sent < delivered | undelivered | failed (terminal), and a message only
    moves forward: from our `sent` (handed off, SID recorded) to a terminal status. Twilio's
    "accepted", "queued", "sending" and "sent" say no more than our `sent` already does, so they
    are logged, not applied; a late "sent" after "delivered" changes nothing, and terminal
    states never change. The move is a conditional UPDATE filtered on the allowed previous
    statuses, so callbacks racing on one message are safe: the database re-checks the filter
    under the row lock.

A "failed" with error 30036 (or 30001) is an expiry: the message outlived its ValidityPeriod
in Twilio's queue. It moves the message to `expired`, not `failed`.

A Messaging Service accepts a send (201) and may fail it later: 21610 (the person opted out
at the carrier) and carrier errors 30003-30007 only ever arrive here. They take the same
`apply_error_side_effects` as an error answered at hand-off, so both paths record the same
opt-out and suppression.

Every stored callback appends one `MessageEvent`: the status itself when it moved the message,
else a "callback" event saying it was ignored. An error code (failed/undelivered) is stored on
the message and handed to `messaging.services.apply_error_side_effects` (21610: carrier
opt-out and suppression; 21211/21614/30005/30006: invalid or landline, suppressed; 30007 is
counted from `error_code` on the campaign's messages). A move to delivered writes the partners'
`message.delivered` webhook deliveries, to failed or undelivered `message.failed`, in the same
transaction (`messaging.partner_webhooks`).

A callback for an unknown SID is stored with no message (the provider gets its 200). One that
beat the dispatcher to recording the SID is applied by `callbacks_apply_pending(message)`,
which the dispatcher calls once the SID is recorded.

Bounds: NUL and lone surrogates are replaced before anything is stored (`config.lib.text`). A SID or
status longer than its column is refused (`InvalidParameter`, a 400), never truncated: a
truncated SID could match another message's row. An `ErrorCode` that is not a plain number a
column can hold (negative, huge, "12a") is kept in `raw` only.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from config.lib.text import storable_params

from . import counters
from .models import MessageEvent, MessageStatus, OutboundMessage, StatusCallback
from .partner_webhooks import webhook_emit_message_status
from .services import apply_error_side_effects, record_event

logger = logging.getLogger(__name__)

#: Provider status -> (our status, the statuses a message may move to it from). Only a handed-off
#: message (`sent`, with its SID) moves: `sending` belongs to the dispatcher until it records the
#: SID, and its own guarded update must not find the row changed under it.
TRANSITIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "delivered": (MessageStatus.DELIVERED, (MessageStatus.SENT,)),
    "undelivered": (MessageStatus.UNDELIVERED, (MessageStatus.SENT,)),
    "failed": (MessageStatus.FAILED, (MessageStatus.SENT,)),
}
ERROR_STATUSES = frozenset({"undelivered", "failed"})
#: Expired in Twilio's queue: past its ValidityPeriod (30036), or a Messaging Service's queue
#: overflowed (30001).
EXPIRED_ERRORS = frozenset({30036, 30001})


class MissingParameter(ValueError):
    """The request lacks MessageSid or MessageStatus: not a Twilio status callback."""


class InvalidParameter(MissingParameter):
    """A MessageSid or MessageStatus too long to store whole: refused, never truncated."""


MAX_SID_LENGTH = StatusCallback._meta.get_field("provider_sid").max_length
MAX_STATUS_LENGTH = StatusCallback._meta.get_field("status").max_length
#: Provider error codes are small positive numbers; anything past the column's range is noise.
MAX_ERROR_CODE = 2_147_483_647


def status_callback_receive(*, params: dict[str, str]) -> StatusCallback | None:
    """Store and apply one status callback; None if it was a repeat (nothing changed).

    Raises `MissingParameter` if MessageSid or MessageStatus is missing, `InvalidParameter` if
    either is too long to store whole.
    """
    params = storable_params(params)
    sid = params.get("MessageSid") or params.get("SmsSid") or ""
    status = (params.get("MessageStatus") or params.get("SmsStatus") or "").strip().lower()
    if not (sid and status):
        raise MissingParameter("MessageSid and MessageStatus are required.")
    if len(sid) > MAX_SID_LENGTH or len(status) > MAX_STATUS_LENGTH:
        raise InvalidParameter(
            f"MessageSid (at most {MAX_SID_LENGTH} characters) or MessageStatus (at most "
            f"{MAX_STATUS_LENGTH}) is too long."
        )
    error_code = _error_code(params.get("ErrorCode"))
    try:
        with transaction.atomic():
            message = OutboundMessage.objects.filter(provider_sid=sid).first()
            callback = StatusCallback.objects.create(
                provider_sid=sid,
                status=status,
                error_code=error_code,
                raw=params,
                message=message,
            )
            if message is None:
                logger.info("Status callback %s %s: unknown message SID", sid, status)
            else:
                _apply(callback, message)
            return callback
    except IntegrityError:
        if StatusCallback.objects.filter(provider_sid=sid, status=status).exists():
            return None  # a retry: applied the first time
        raise


def callbacks_apply_pending(message: OutboundMessage) -> int:
    """Apply callbacks stored before the message's SID was known (they beat the dispatcher).

    Call after the SID is recorded. Returns how many were applied; each only once.
    """
    if not message.provider_sid:
        return 0
    applied = 0
    with transaction.atomic():
        pending = StatusCallback.objects.select_for_update().filter(
            provider_sid=message.provider_sid, message__isnull=True
        )
        for callback in pending.order_by("received_at", "id"):
            StatusCallback.objects.filter(pk=callback.pk).update(message=message)
            _apply(callback, message)
            applied += 1
    return applied


def _error_code(value: str | None) -> int | None:
    """The provider's error code as a number; None when absent, zero or not a plain number in
    the column's range (digits only: no sign, no "1_000", no other scripts' digits)."""
    text = (value or "").strip()
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(MAX_ERROR_CODE)):
        return None
    code = int(text)
    return code if 0 < code <= MAX_ERROR_CODE else None


def _apply(callback: StatusCallback, message: OutboundMessage) -> bool:
    """Move the message forward if the callback allows it; log it either way."""
    now = timezone.now()
    data: dict[str, Any] = {"status": callback.status, "callback_id": callback.pk}
    moved = False
    transition = TRANSITIONS.get(callback.status)
    if transition is not None:
        new_status, allowed = transition
        if callback.status == "failed" and callback.error_code in EXPIRED_ERRORS:
            new_status = MessageStatus.EXPIRED  # its own outcome: never sent, nobody's fault
        fields: dict[str, Any] = {"status": new_status}
        if new_status == MessageStatus.DELIVERED:
            fields["delivered_at"] = now
        if callback.error_code is not None:
            fields["error_code"] = callback.error_code
        moved = bool(
            OutboundMessage.objects.filter(pk=message.pk, status__in=allowed).update(**fields)
        )
    if moved:
        record_event(message, new_status, error_code=callback.error_code, data=data, at=now)
        webhook_emit_message_status(message, new_status, callback.error_code, now)
        error_code = callback.error_code if callback.error_code is not None else message.error_code
        counters.bump(
            day=counters.message_day(message),
            dims=counters.message_dims(message),
            **counters.outcome_metrics(new_status, error_code),
        )
    else:
        # Not applied: a status our `sent` already covers, or a late one after a later status.
        data |= {"applied": False, "message_status": message.status}
        record_event(
            message, MessageEvent.Kind.CALLBACK, error_code=callback.error_code, data=data, at=now
        )
        if callback.error_code is not None:
            filled = OutboundMessage.objects.filter(pk=message.pk, error_code__isnull=True).update(
                error_code=callback.error_code
            )
            if filled and message.status in (MessageStatus.FAILED, MessageStatus.UNDELIVERED):
                # The failure was counted without a code; now it has one.
                counters.bump(
                    day=counters.message_day(message),
                    dims=counters.message_dims(message),
                    **{f"error:{callback.error_code}": 1},
                )
    if callback.status in ERROR_STATUSES and callback.error_code is not None:
        # What the error says about the number holds even if the status arrived late.
        message.error_code = callback.error_code
        apply_error_side_effects(message, callback.error_code)
    return moved


__all__ = [
    "TRANSITIONS",
    "InvalidParameter",
    "MissingParameter",
    "callbacks_apply_pending",
    "status_callback_receive",
]
