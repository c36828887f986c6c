"""Messaging entry points that admin, API, webhooks and tasks call; none of them writes a status.

- `message_queue`: one message (API, agent reply, test send) through the consent gate.
- `cancel_waiting_messages`: an opt-out cancels what is still waiting, in the same transaction.
- `apply_error_side_effects`: what a permanent provider error means for consent and suppression.
- `record_event`: append to a message's log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from consent import services as consent_services
from consent.models import Contact, Program, SuppressionReason
from consent.selectors import can_message
from templates.encoding import analyze

from .models import BlockReason, MessageEvent, MessageKind, MessageStatus, OutboundMessage, Sender
from .models.outbound import WAITING

#: Permanent provider errors and what they say about the number (shared/DOMAIN.md §3).
ERROR_MEANINGS: dict[int, str] = {
    21610: "opted_out_at_carrier",
    21211: "invalid",
    21614: "not_mobile",
    30003: "unreachable",
    30004: "blocked",
    30005: "invalid",
    30006: "landline",
    30007: "filtered",
    30034: "unregistered_sender",
}


def record_event(
    message: OutboundMessage,
    kind: str,
    *,
    reason: str = "",
    error_code: int | None = None,
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> MessageEvent:
    return MessageEvent.objects.create(
        message=message,
        kind=kind,
        reason=reason,
        error_code=error_code,
        data=data or {},
        at=at or timezone.now(),
    )


def default_sender(program: Program) -> Sender | None:
    return program.senders.filter(active=True).order_by("pk").first()


def message_queue(
    *,
    contact: Contact,
    program: Program,
    body: str,
    kind: str,
    message_type: str | None = None,
    sender: Sender | None = None,
    template_version=None,
    in_reply_to=None,
    send_at: datetime | None = None,
) -> OutboundMessage:
    """Queue one message, or record why it may not go (status blocked, with the reason).

    The consent gate is asked now and again by dispatch right before hand-off; a template
    version must be approved. The row is the decision log either way.
    """
    message_type = message_type or program.message_type
    sender = sender or default_sender(program)
    reason = ""
    decision = can_message(contact.phone or "", program, message_type)
    if not decision.allowed:
        reason = decision.reason
    elif template_version is not None and template_version.status != "approved":
        reason = BlockReason.NOT_APPROVED
    elif sender is None:
        reason = BlockReason.NO_SENDER
    analysis = analyze(body)
    with transaction.atomic():
        message = OutboundMessage.objects.create(
            contact=contact,
            to=contact.phone or "",
            sender=sender,
            program=program,
            message_type=message_type,
            kind=kind,
            template_version=template_version,
            in_reply_to=in_reply_to,
            body=body,
            encoding=analysis.encoding,
            segments=analysis.segments,
            status=MessageStatus.BLOCKED if reason else MessageStatus.QUEUED,
            reason=reason,
            next_attempt_at=send_at or timezone.now(),
        )
        record_event(
            message,
            MessageEvent.Kind.BLOCKED if reason else MessageEvent.Kind.QUEUED,
            reason=reason,
        )
    return message


def cancel_waiting_messages(
    *,
    contact: Contact,
    programs: list[Program] | None,
    reason: str = BlockReason.CANCELLED_BY_OPT_OUT,
) -> int:
    """Cancel every queued or held message to `contact` for `programs` (None: all programs).

    Called inside the transaction that records an opt-out, so nothing waiting survives it.
    Messages already being handed over (`sending`) are stopped by dispatch's own re-check.
    """
    waiting: QuerySet[OutboundMessage] = OutboundMessage.objects.filter(
        contact=contact, status__in=WAITING
    )
    if programs is not None:
        waiting = waiting.filter(program__in=programs)
    ids = list(waiting.values_list("pk", flat=True))
    if not ids:
        return 0
    now = timezone.now()
    cancelled = OutboundMessage.objects.filter(pk__in=ids, status__in=WAITING).update(
        status=MessageStatus.CANCELLED, reason=reason
    )
    MessageEvent.objects.bulk_create(
        MessageEvent(message_id=pk, kind=MessageEvent.Kind.CANCELLED, reason=reason, at=now)
        for pk in ids
    )
    return cancelled


def apply_error_side_effects(message: OutboundMessage, error_code: int | None) -> str | None:
    """Act on a permanent provider error for this message's number; returns its meaning.

    21610: the person opted out at the carrier (STOP we never saw): a carrier opt-out is
    recorded and the number suppressed. 21211/30005 invalid and 21614/30006 landline numbers
    are suppressed. 30007 (carrier filtering) is only counted, against the campaign.
    """
    meaning = ERROR_MEANINGS.get(error_code or 0)
    if meaning is None or not message.to:
        return meaning
    evidence = {"error_code": error_code, "message_id": message.pk, "sid": message.provider_sid}
    label = f"provider error {error_code}"
    if meaning == "opted_out_at_carrier":
        consent_services.consent_revoke(
            contact=message.contact,
            revoke_all=True,
            programs=[message.program],
            method="carrier",
            source=f"twilio error 21610 sending message #{message.pk}",
            evidence=evidence,
            recorded_by_label=label,
            suppression_reason=SuppressionReason.CARRIER_21610,
            idempotency_key=f"21610:{message.to}:{message.pk}",
        )
    elif meaning in ("invalid", "not_mobile", "landline"):
        consent_services.suppression_add(
            phone=message.to,
            reason=SuppressionReason.INVALID
            if meaning == "invalid"
            else SuppressionReason.LANDLINE,
            evidence=evidence,
            created_by_label=label,
        )
    return meaning


__all__ = [
    "ERROR_MEANINGS",
    "MessageKind",
    "apply_error_side_effects",
    "cancel_waiting_messages",
    "default_sender",
    "message_queue",
    "record_event",
]
