"""Conversations with people, agents' replies, and decisions on possible revocations.

The admin and the inbound handler call these; none of them writes a status itself.

Conversation lifecycle (one per contact and sender, `messaging.models.Conversation`)::

    (person writes) --> open --agent replies--> waiting --person writes--> open
    open | waiting --close--> closed --person writes | reopen--> open

Revocation review lifecycle (`messaging.models.RevocationReview`)::

    pending --decide "revoked"--> revoked          (consent_revoke, method "keyword")
    pending --decide "not a revocation"--> not_revocation

Every transition is a guarded conditional UPDATE: 0 rows means someone else got there first and
the call returns False. Who did it is on the row where the model has a place for it (review
decisions); the admin also writes its LogEntry for assign, close, reopen and replies.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from config.lib.business_days import is_business_day
from consent import services as consent_services
from consent.models import ConsentMethod, ConsentState, ConsentStatus, Contact, MessageType, Program

from .models import (
    Conversation,
    InboundMessage,
    MessageKind,
    MessageStatus,
    OutboundMessage,
    RevocationReview,
    Sender,
    WebhookEventType,
)
from .partner_webhooks import webhook_emit
from .services import message_queue

Status = Conversation.Status


class ConversationError(ValueError):
    """A request the conversation cannot take (empty reply, nothing to answer). Nothing changed."""


# --- Business hours -------------------------------------------------------------------------


@dataclass(frozen=True)
class BusinessHours:
    """Opening hours on business days (Monday to Friday, not a federal holiday), local time."""

    opens: time
    closes: time
    zone: zoneinfo.ZoneInfo


def business_hours() -> BusinessHours:
    """Parsed `settings.SMS_BUSINESS_HOURS`: (opens, closes, zone name)."""
    return _parse_business_hours(tuple(settings.SMS_BUSINESS_HOURS))


@lru_cache(maxsize=8)
def _parse_business_hours(value: tuple[str, str, str]) -> BusinessHours:
    opens, closes, zone = value
    return BusinessHours(
        time.fromisoformat(opens), time.fromisoformat(closes), zoneinfo.ZoneInfo(zone)
    )


def after_hours_since(at: datetime) -> datetime | None:
    """When the current off-hours period began (the last closing time), or None during hours.

    A "night" runs from one business day's closing to the next business day's opening, so a
    weekend or a holiday is one long night: an acknowledgement is sent at most once in it.
    """
    hours = business_hours()
    local = timezone.localtime(at, hours.zone)
    if is_business_day(local.date()) and hours.opens <= local.time() < hours.closes:
        return None
    day = local.date()
    if not (is_business_day(day) and local.time() >= hours.closes):
        day -= timedelta(days=1)
        while not is_business_day(day):
            day -= timedelta(days=1)
    return datetime.combine(day, hours.closes, tzinfo=hours.zone)


# --- Conversations --------------------------------------------------------------------------


def conversation_touch(
    *, contact: Contact, sender: Sender, at: datetime | None = None, text: str = ""
) -> Conversation:
    """The person wrote `text`: open their conversation with this sender, creating or
    reopening it. A new or reopened conversation is announced to partners
    (`conversation.opened`, e.g. a helpdesk) in the same transaction.

    Locks the row, so concurrent messages from one person are handled one after the other.
    """
    at = at or timezone.now()
    with transaction.atomic():
        conversation = (
            Conversation.objects.select_for_update().filter(contact=contact, sender=sender).first()
        )
        if conversation is None:
            try:
                with transaction.atomic():
                    conversation = Conversation.objects.create(
                        contact=contact, sender=sender, opened_at=at, last_message_at=at
                    )
            except IntegrityError:  # created by a concurrent message: use that one
                conversation = Conversation.objects.select_for_update().get(
                    contact=contact, sender=sender
                )
            else:
                _emit_opened(conversation, text=text, reopened=False)
                return conversation
        fields: dict[str, Any] = {"status": Status.OPEN, "last_message_at": at}
        reopened = conversation.status == Status.CLOSED
        if reopened:
            fields |= {"opened_at": at, "closed_at": None}
        Conversation.objects.filter(pk=conversation.pk).update(**fields)
        for name, value in fields.items():
            setattr(conversation, name, value)
        if reopened:
            _emit_opened(conversation, text=text, reopened=True)
        return conversation


def _emit_opened(conversation: Conversation, *, text: str, reopened: bool) -> None:
    webhook_emit(
        event_type=WebhookEventType.CONVERSATION_OPENED,
        data={
            "conversation_id": conversation.pk,
            "phone": conversation.contact.phone,
            "sender": conversation.sender.phone_number or conversation.sender.messaging_service_sid,
            "sender_name": conversation.sender.name,
            "text": text,
            "reopened": reopened,
            "opened_at": conversation.opened_at.isoformat(),
        },
        occurred_at=conversation.opened_at,
    )


def conversation_assign(*, conversation: Conversation, to) -> bool:
    """Give the conversation to `to` (a user; None unassigns). False if it already is theirs."""
    pk = to.pk if to is not None else None
    return bool(
        Conversation.objects.filter(pk=conversation.pk)
        .exclude(assignee_id=pk)
        .update(assignee_id=pk)
    )


def conversation_close(*, conversation: Conversation, by=None) -> bool:
    """open | waiting -> closed. False if it was closed already."""
    return bool(
        Conversation.objects.filter(
            pk=conversation.pk, status__in=[Status.OPEN, Status.WAITING]
        ).update(status=Status.CLOSED, closed_at=timezone.now())
    )


def conversation_reopen(*, conversation: Conversation, by=None) -> bool:
    """closed -> open (an agent takes it up again). False if it was not closed."""
    now = timezone.now()
    return bool(
        Conversation.objects.filter(pk=conversation.pk, status=Status.CLOSED).update(
            status=Status.OPEN, closed_at=None, opened_at=now
        )
    )


def reply_program(conversation: Conversation) -> Program | None:
    """The program an agent's reply is checked against by the consent gate.

    The strictest of the sender's programs for this person: one they opted out of (so a reply
    to an opted-out number is blocked), else one they have consent history with, else the
    sender's first active program.
    """
    programs = list(conversation.sender.programs.order_by("pk"))
    if not programs:
        return None
    states = dict(
        ConsentState.objects.filter(contact=conversation.contact, program__in=programs).values_list(
            "program_id", "status"
        )
    )
    for program in programs:
        if states.get(program.pk) == ConsentStatus.OPTED_OUT:
            return program
    for program in programs:
        if program.pk in states and program.active:
            return program
    return next((p for p in programs if p.active), programs[0])


def conversation_reply(*, conversation: Conversation, body: str, by) -> OutboundMessage:
    """Queue an agent's answer to the person's latest message, through the consent gate.

    It is customer care (an answer to the person's own message): allowed without an opt-in,
    never to an opted-out or suppressed number. The returned message is `queued`, or `blocked`
    with the gate's reason for the agent to see. A queued reply moves the conversation from
    open to waiting and assigns it to the agent if nobody had it.
    """
    body = body.strip()
    if not body:
        raise ConversationError("Write a reply first.")
    latest = (
        InboundMessage.objects.filter(contact=conversation.contact, sender=conversation.sender)
        .order_by("-received_at", "-id")
        .first()
    )
    if latest is None:
        raise ConversationError("The person has not written: there is nothing to answer.")
    program = reply_program(conversation)
    if program is None:
        raise ConversationError(f"{conversation.sender} sends for no program; add one first.")
    with transaction.atomic():
        message = message_queue(
            contact=conversation.contact,
            program=program,
            body=body,
            kind=MessageKind.AGENT_REPLY,
            message_type=MessageType.CUSTOMER_CARE,
            sender=conversation.sender,
            in_reply_to=latest,
        )
        if message.status != MessageStatus.BLOCKED:
            Conversation.objects.filter(pk=conversation.pk, status=Status.OPEN).update(
                status=Status.WAITING, last_message_at=message.created_at
            )
            if by is not None:
                Conversation.objects.filter(pk=conversation.pk, assignee__isnull=True).update(
                    assignee=by
                )
    return message


def canned_responses() -> list[tuple[str, str]]:
    """(title, text) pairs agents pick from: `settings.SMS_CANNED_RESPONSES`.

    The setting may list (title, text) pairs or plain texts (the text is its own title).
    """
    configured = settings.SMS_CANNED_RESPONSES
    responses = []
    for entry in configured:
        if isinstance(entry, str):
            responses.append((entry[:40], entry))
        else:
            title, text = entry
            responses.append((str(title), str(text)))
    return responses


# --- History --------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryItem:
    """One message of a conversation, either way, with what it did to consent or delivery."""

    at: datetime
    direction: str  # "in" or "out"
    body: str
    state: str
    detail: str
    message: InboundMessage | OutboundMessage


HISTORY_LIMIT = 200


def conversation_history(
    conversation: Conversation, limit: int = HISTORY_LIMIT
) -> list[HistoryItem]:
    """The latest `limit` messages each way between the person and this sender, oldest first."""
    inbound = (
        InboundMessage.objects.filter(contact=conversation.contact, sender=conversation.sender)
        .select_related("revocation_review")
        .order_by("-received_at", "-id")[:limit]
    )
    outbound = (
        OutboundMessage.objects.filter(contact=conversation.contact, sender=conversation.sender)
        .select_related("program")
        .order_by("-created_at", "-id")[:limit]
    )
    states = dict(
        ConsentState.objects.filter(contact=conversation.contact).values_list(
            "program_id", "status"
        )
    )
    items = [_inbound_item(m) for m in inbound] + [_outbound_item(m, states) for m in outbound]
    items.sort(key=lambda item: (item.at, item.direction == "out"))
    return items


def _inbound_item(message: InboundMessage) -> HistoryItem:
    state = message.get_intent_display() or "—"
    review = getattr(message, "revocation_review", None)
    if review is not None:
        state = f"{state}: {review.get_status_display()}"
    return HistoryItem(message.received_at, "in", message.body, state, message.matched, message)


def _outbound_item(message: OutboundMessage, states: dict[int, str]) -> HistoryItem:
    delivery = message.get_status_display()
    if message.reason:
        delivery = f"{delivery} ({message.reason})"
    if message.error_code:
        delivery = f"{delivery}, error {message.error_code}"
    if message.program_id in states:
        consent = f"{ConsentStatus(states[message.program_id]).label} now"
    else:
        consent = "no consent record"
    detail = f"{message.get_kind_display()} · {message.program.slug}: {consent}"
    return HistoryItem(message.created_at, "out", message.body, delivery, detail, message)


# --- Revocation reviews ---------------------------------------------------------------------


def review_decide(*, review: RevocationReview, revoked: bool, by, note: str = "") -> bool:
    """Decide a possible revocation: treat it as an opt-out, or close it as not one.

    "Revoked" records the opt-out as of when the message was received (method "keyword",
    evidence naming the review and the decider), scoped like a STOP to that number (the
    sender's programs, or everything under `SMS_REVOKE_ALL`), and cancels waiting messages in
    the same transaction. Returns False if someone decided it first.
    """
    status = RevocationReview.Status.REVOKED if revoked else RevocationReview.Status.NOT_REVOCATION
    now = timezone.now()
    with transaction.atomic():
        decided = RevocationReview.objects.filter(
            pk=review.pk, status=RevocationReview.Status.PENDING
        ).update(status=status, decided_by=by, decided_at=now, note=note)
        if not decided:
            return False
        if revoked:
            _revoke_reviewed(review, by=by, note=note, at=now)
    return True


def _revoke_reviewed(review: RevocationReview, *, by, note: str, at: datetime) -> None:
    inbound = InboundMessage.objects.select_related("sender").get(pk=review.inbound_id)
    programs = list(inbound.sender.programs.order_by("pk")) if inbound.sender else []
    revoke_all = settings.SMS_REVOKE_ALL or not programs
    said = " ".join(inbound.body.split())[:200] or "(empty)"
    consent_services.consent_revoke(
        contact=review.contact,
        programs=programs,
        revoke_all=revoke_all,
        method=ConsentMethod.KEYWORD,
        source=f"{said} to {inbound.to_number} (reviewed)",
        occurred_at=inbound.received_at,
        evidence={
            "channel": "sms",
            "text": inbound.body,
            "message_sid": inbound.provider_sid,
            "received_at": inbound.received_at.isoformat(),
            "matched": inbound.matched,
            "review_id": review.pk,
            "review_deadline": review.deadline.isoformat(),
            "decided_by": by.get_username() if by is not None else "",
            "decided_at": at.isoformat(),
            "scope": "all" if revoke_all else "sender programs",
        },
        note=note,
        recorded_by=by,
        recorded_by_label="revocation review",
    )


__all__ = [
    "BusinessHours",
    "ConversationError",
    "HistoryItem",
    "after_hours_since",
    "business_hours",
    "canned_responses",
    "conversation_assign",
    "conversation_close",
    "conversation_history",
    "conversation_reopen",
    "conversation_reply",
    "conversation_touch",
    "reply_program",
    "review_decide",
]
