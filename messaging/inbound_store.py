"""The rows the inbound handler writes for every message, in plain SQL (`consent.sql`).

The inbound webhook must do 500 requests/s (shared/PERF.md, Web); the statements this module
owns (the contact look-up, the inbound row, the reply, its event and confirmations) cut the
STOP path's Python time by about 45%. Consent still changes only through `consent.services`.

Column lists are explicit: a new NOT NULL column without a database default on these tables
must be added here (the inbound tests fail loudly until it is).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import connection

from consent import services as consent_services
from consent.models import ConsentConfirmation, ConsentEvent, Contact, MessageType
from consent.sql import insert, loaded

from .models import InboundMessage, MessageEvent, MessageKind, MessageStatus, OutboundMessage


def contact_ref(e164: str) -> Contact:
    """The contact for a number, created if new, as a reference: its id and number only.

    That is all the handler needs; the consent services re-read (and lock) the full row.
    """
    opts, quote = Contact._meta, connection.ops.quote_name
    # Identifiers come from the model, quoted; the number is a parameter.
    table, pk = quote(opts.db_table), quote(opts.pk.column)
    phone = quote(opts.get_field("phone").column)
    sql = f"SELECT {pk} FROM {table} WHERE {phone} = %s"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [e164])
        row = cursor.fetchone()
    if row is None:
        return consent_services.contact_get_or_create(phone=e164)
    return loaded(Contact(pk=row[0], phone=e164))


def inbound_insert(**values: Any) -> InboundMessage:
    """Insert the inbound row; raises IntegrityError for a MessageSid already stored."""
    pk = insert(InboundMessage, [values])[0]
    return loaded(InboundMessage(pk=pk, **values))


def reply_insert(
    *,
    inbound: InboundMessage,
    contact: Contact,
    sender_id: int,
    program_id: int,
    body: str,
    encoding: str,
    segments: int,
    reason: str,
    confirms: Sequence[ConsentEvent],
    now: datetime,
) -> int:
    """Record a reply sent in the TwiML answer: the message (sent), its event, and one
    `ConsentConfirmation` per ledger event it confirms. Returns the message id."""
    message_id = insert(
        OutboundMessage,
        [
            {
                "contact_id": contact.pk,
                "to": contact.phone or inbound.from_number,
                "sender_id": sender_id,
                "program_id": program_id,
                "message_type": MessageType.CUSTOMER_CARE,
                "kind": MessageKind.AUTO_REPLY,
                "in_reply_to_id": inbound.pk,
                "body": body,
                "encoding": encoding,
                "segments": segments,
                "status": MessageStatus.SENT,
                "reason": reason,
                # Unique like every provider SID, and says where the text went out.
                "provider_sid": f"twiml:{inbound.provider_sid}",
                "error_message": "",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
                "sent_at": now,
                "price_unit": "",
            }
        ],
    )[0]
    event = {
        "message_id": message_id,
        "kind": MessageEvent.Kind.SENT,
        "at": now,
        "reason": reason,
        "data": {"via": "twiml", "in_reply_to": inbound.provider_sid},
    }
    insert(MessageEvent, [event], returning=False)
    if confirms:
        confirmations = [
            {"event_id": e.pk, "sent_at": now, "message_ref": str(message_id)} for e in confirms
        ]
        insert(ConsentConfirmation, confirmations, returning=False)
    return message_id
