"""Replies to STOP/HELP/START and the confirmation records they earn, only once proven.

Who answers an incoming keyword is the sender's (`Sender.provider_answers_keywords`):

- **The provider.** Twilio answered (and on STOP blocked the number) before calling our webhook.
  We send nothing. Each consent event the message caused gets a `ConsentConfirmation` with
  `message_ref = "provider:<MessageSid of the incoming message>"` and the time it arrived: the
  proof is the provider's own keyword handling. The inbound row says `answered_by="provider"`
  and keeps the provider's text when the sender records it.
- **Us.** Our reply is sent through the provider's REST API like any message (a real message
  SID, a status callback, retries, reconciliation), not as TwiML, whose delivery nobody would
  report. It is queued ahead of everything waiting (`REPLY_FIRST`) and the dispatcher sends it.
  Its consent events are listed in the queued event's data (`confirms`); their
  `ConsentConfirmation` rows (`message_ref` = our message id) are written in the transaction
  that records the provider's acceptance, and the message's status then says whether it was
  delivered. A reply that is never accepted confirms nothing.

A STOP confirmation goes to a person who has just opted out, and a HELP reply to anyone: the
consent gate would refuse both, so dispatch does not ask it for them (`gate_exempt`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from consent.models import ConsentConfirmation, ConsentEvent

from .models import InboundMessage, MessageEvent, MessageKind, OutboundMessage

#: `next_attempt_at` of a queued reply: dispatch claims the earliest first, so replies jump
#: ahead of any campaign backlog.
REPLY_FIRST = datetime(2000, 1, 1, tzinfo=UTC)
#: Reasons (`messaging.inbound.Reply`) of the replies the consent gate would wrongly refuse.
GATE_EXEMPT_REASONS = frozenset({"stop_confirmation", "help_reply"})
PROVIDER_REF_PREFIX = "provider:"


def gate_exempt(message: OutboundMessage) -> bool:
    """True for a STOP confirmation or a HELP reply: sent without asking the consent gate."""
    return message.kind == MessageKind.AUTO_REPLY and message.reason in GATE_EXEMPT_REASONS


def provider_confirmations_record(
    *, events: Sequence[ConsentEvent], inbound: InboundMessage
) -> None:
    """The provider answered `inbound`: record that as the confirmation of each event."""
    ConsentConfirmation.objects.bulk_create(
        [
            ConsentConfirmation(
                event=event,
                sent_at=inbound.received_at,
                message_ref=f"{PROVIDER_REF_PREFIX}{inbound.provider_sid}"[:64],
            )
            for event in events
        ],
        ignore_conflicts=True,
    )


#: Kinds of message that may confirm a consent event: our keyword replies and opt-in
#: acknowledgements, and the message of an opt-in confirmation flow.
CONFIRMING_KINDS = frozenset({MessageKind.AUTO_REPLY, MessageKind.FLOW})


def accepted_confirmations_record(accepted: Iterable[tuple[OutboundMessage, datetime]]) -> int:
    """Replies the provider accepted (message, when): confirm the events each one answers.

    Call in the transaction that records them as sent. Returns how many were written.
    """
    replies = {m.pk: at for m, at in accepted if m.kind in CONFIRMING_KINDS}
    if not replies:
        return 0
    queued = MessageEvent.objects.filter(
        message_id__in=list(replies), kind=MessageEvent.Kind.QUEUED
    ).values_list("message_id", "data")
    rows: list[ConsentConfirmation] = []
    for message_id, data in queued:
        for event_id in _confirms(data):
            rows.append(
                ConsentConfirmation(
                    event_id=event_id, sent_at=replies[message_id], message_ref=str(message_id)
                )
            )
    ConsentConfirmation.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def _confirms(data: Any) -> list[int]:
    if not isinstance(data, dict):
        return []
    return [int(pk) for pk in data.get("confirms") or [] if str(pk).isdigit()]


__all__ = [
    "GATE_EXEMPT_REASONS",
    "REPLY_FIRST",
    "accepted_confirmations_record",
    "gate_exempt",
    "provider_confirmations_record",
]
