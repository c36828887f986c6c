"""One person's history on one page: the consent ledger, messages sent and received, and
conversations, newest first, bounded (the most recent `limit` of each, merged).

A constant number of queries whatever the history's length (one per source), for the
contact page. Each item says what happened, its state (the gate's decision and the delivery
state for a message we sent) and links to the record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from django.urls import reverse

from consent.models import Contact
from consent.selectors import Reason

from .models import Conversation, InboundMessage, MessageStatus, OutboundMessage

#: Items of each source shown before "more" links.
TIMELINE_LIMIT = 25


@dataclass(frozen=True)
class TimelineItem:
    at: datetime
    kind: str  # consent, sent, received, conversation
    title: str
    text: str = ""
    state: str = ""
    css: str = ""
    detail: str = ""
    evidence: str = ""
    url: str = ""


@dataclass
class Timeline:
    items: list[TimelineItem]
    #: Sources with more than shown: (label, changelist URL filtered to this person).
    more: list[tuple[str, str]] = field(default_factory=list)


def _reason_label(reason: str) -> str:
    try:
        return Reason(reason).label
    except ValueError:
        return reason.replace("_", " ")


def _admin_url(name: str, *args) -> str:
    return reverse(f"admin:{name}", args=args)


def _consent_items(contact: Contact, limit: int) -> list[TimelineItem]:
    events = contact.consent_events.select_related(
        "program", "disclosure", "recorded_by", "confirmation"
    ).order_by("-occurred_at", "-id")[: limit + 1]
    items = []
    for event in events:
        detail = f"{event.get_method_display()} · {event.source}"
        if event.disclosure:
            detail += f" · disclosure v{event.disclosure.version}"
        by = event.recorded_by or event.recorded_by_label
        if by:
            detail += f" · by {by}"
        if event.note:
            detail += f" · {event.note}"
        items.append(
            TimelineItem(
                at=event.occurred_at,
                kind="consent",
                title=f"{event.get_kind_display()} · {event.program.name}",
                state=event.get_kind_display(),
                css=f"consent-status-{event.resulting_status}",
                detail=detail,
                evidence=json.dumps(event.evidence, indent=1) if event.evidence else "",
                url=_admin_url("consent_consentevent_change", event.pk),
            )
        )
    return items


def _sent_items(contact: Contact, limit: int) -> list[TimelineItem]:
    messages = (
        OutboundMessage.objects.filter(contact=contact)
        .select_related("program", "campaign")
        .only(
            "id", "body", "status", "reason", "kind", "created_at", "sent_at", "error_code",
            "program__name", "campaign__name",
        )
        .order_by("-created_at", "-id")[: limit + 1]
    )  # fmt: skip
    items = []
    for message in messages:
        if message.status == MessageStatus.BLOCKED:
            state = f"Blocked by the consent gate: {_reason_label(message.reason)}"
        elif message.status == MessageStatus.HELD:
            state = f"Held: {_reason_label(message.reason)}"
        else:
            state = message.get_status_display()
            if message.error_code:
                state += f" (error {message.error_code})"
        origin = message.campaign.name if message.campaign else message.get_kind_display()
        items.append(
            TimelineItem(
                at=message.sent_at or message.created_at,
                kind="sent",
                title=f"Sent · {message.program.name if message.program else ''} · {origin}",
                text=message.body,
                state=state,
                css=f"message-status-{message.status}",
                url=_admin_url("messaging_outboundmessage_change", message.pk),
            )
        )
    return items


def _received_items(contact: Contact, limit: int) -> list[TimelineItem]:
    messages = (
        InboundMessage.objects.filter(contact=contact)
        .only("id", "body", "received_at", "intent", "matched", "to_number")
        .order_by("-received_at", "-id")[: limit + 1]
    )
    return [
        TimelineItem(
            at=message.received_at,
            kind="received",
            title=f"Received · to {message.to_number}",
            text=message.body,
            state=message.get_intent_display() if message.intent else "",
            detail=f"rule: {message.matched}" if message.matched else "",
            url=_admin_url("messaging_inboundmessage_change", message.pk),
        )
        for message in messages
    ]


def _conversation_items(contact: Contact, limit: int) -> list[TimelineItem]:
    conversations = (
        Conversation.objects.filter(contact=contact)
        .select_related("sender", "assignee")
        .order_by("-last_message_at", "-id")[: limit + 1]
    )
    return [
        TimelineItem(
            at=conversation.opened_at,
            kind="conversation",
            title=f"Conversation with {conversation.sender.name}",
            state=conversation.get_status_display(),
            detail=f"assigned to {conversation.assignee}" if conversation.assignee else "",
            url=_admin_url("messaging_conversation_change", conversation.pk),
        )
        for conversation in conversations
    ]


def contact_timeline(contact: Contact, *, limit: int = TIMELINE_LIMIT) -> Timeline:
    """The person's history, newest first: up to `limit` items of each source, merged."""
    phone_query = f"?q={contact.phone}" if contact.phone else ""
    sources = [
        (
            "consent events",
            _consent_items(contact, limit),
            _admin_url("consent_consentevent_changelist") + phone_query,
        ),
        (
            "messages sent",
            _sent_items(contact, limit),
            _admin_url("messaging_outboundmessage_changelist") + phone_query,
        ),
        (
            "messages received",
            _received_items(contact, limit),
            _admin_url("messaging_inboundmessage_changelist") + phone_query,
        ),
        (
            "conversations",
            _conversation_items(contact, limit),
            _admin_url("messaging_conversation_changelist") + phone_query,
        ),
    ]
    items: list[TimelineItem] = []
    more = []
    for label, found, url in sources:
        if len(found) > limit:
            more.append((label, url))
        items += found[:limit]
    items.sort(key=lambda item: item.at, reverse=True)
    return Timeline(items=items, more=more)
