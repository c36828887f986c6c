"""The one text that answers an opt-in made outside SMS (the API, the hosted join form).

A keyword opt-in is answered in the inbound webhook's own reply; everything else calls
`opt_in_acknowledge` right after `consent_opt_in`:

    pending (double opt-in) --> the program's "reply YES to confirm" request
    opted in ---------------> the program's opt-in confirmation flow (consent.opted_in),
                              else the program's opt-in confirmation text

The message carries the consent event it answers (its queued event's `confirms`): the
event's `ConsentConfirmation` is written by the dispatcher when the provider accepts the
message (`messaging.keyword_replies.accepted_confirmations_record`), never when it is only
queued; a message that is blocked, fails or is cancelled confirms nothing.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from config.lib.queueing import enqueue
from consent.models import ConsentStatus, MessageType, Program
from consent.services import Recorded
from messaging.models import MessageKind, MessageStatus, OutboundMessage
from messaging.services import message_queue

from .flow_rules import OPTED_IN_EVENT
from .flows import flow_event_record
from .models import FlowRunOutcome


def opt_in_acknowledge(*, recorded: Recorded, program: Program) -> OutboundMessage | None:
    """Queue the acknowledgement of a fresh opt-in to `program`; return its message.

    Does nothing (None) for an idempotent repeat (`recorded.created` False), for a status that
    needs no answer, or when the program has no text for it. A message the gate blocks is
    returned but never recorded as the confirmation: nothing was sent.
    """
    if not recorded.created:
        return None
    event = recorded.event
    with transaction.atomic():
        if event.resulting_status == ConsentStatus.PENDING:
            message = _queue_text(event, program, program.double_opt_in_request_text)
        elif event.resulting_status == ConsentStatus.OPTED_IN:
            message = _confirmation_flow_message(event, program) or _queue_text(
                event, program, program.opt_in_confirmation_text
            )
        else:
            return None
    return message


def _confirmation_flow_message(event, program: Program) -> OutboundMessage | None:
    """The message of the program's consent.opted_in flow, if one was queued."""
    # Counted from now, not from `occurred_at`: a back-dated opt-in is still answered when
    # we learn of it, and a flow's lateness limit must not swallow the confirmation.
    _, runs = flow_event_record(
        type=OPTED_IN_EVENT,
        contact=event.contact,
        occurred_at=timezone.now(),
        data={"program": program.slug, "method": event.method, "consent_event_id": event.pk},
        program=program,
    )
    queued = [run for run in runs if run.outcome == FlowRunOutcome.QUEUED and run.message_id]
    return OutboundMessage.objects.get(pk=queued[0].message_id) if queued else None


def _queue_text(event, program: Program, text: str) -> OutboundMessage | None:
    if not (text or "").strip():
        return None
    message = message_queue(
        contact=event.contact,
        program=program,
        body=text.strip(),
        kind=MessageKind.AUTO_REPLY,
        message_type=MessageType.CUSTOMER_CARE,
        event_data={"confirms": [event.pk]},
    )
    if message.status == MessageStatus.QUEUED:
        enqueue("messaging.tasks.dispatch")
    return message


__all__ = ["opt_in_acknowledge"]
