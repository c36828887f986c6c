"""The rows the inbound handler writes for every message, in plain SQL (`messaging.sql`).

The inbound webhook must do 500 requests/s; the statements this module
owns (the contact look-up, the inbound row, the queued reply and its event) cut the
STOP path's Python time by about 45%. Consent still changes only through `consent.services`.

Column lists are explicit: a new NOT NULL column without a database default on these tables
must be added here (the inbound tests fail loudly until it is).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import connection

from config.lib.sql import insert, loaded, prepared
from consent import services as consent_services
from consent.models import ConsentEvent, Contact, MessageType

from . import sql
from .keyword_replies import REPLY_FIRST
from .models import InboundMessage, MessageEvent, MessageKind, MessageStatus, OutboundMessage


def contact_ref(e164: str) -> Contact:
    """The contact for a number, created if new, as a reference: its id and number only.

    That is all the handler needs; the consent services re-read (and lock) the full row.
    """
    with connection.cursor() as cursor:
        cursor.execute(sql.contact_id_sql(), [e164])
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
    """Queue our reply to `inbound` for the dispatcher (`messaging.keyword_replies`): the
    message (queued ahead of everything else) and its event, which lists the consent events
    the reply will confirm once the provider accepts it. Returns the message id.

    On PostgreSQL the two inserts are one statement (a data-modifying CTE): round trips, not
    the inserts, are what a STOP pays for on a busy 2-core machine."""
    message = {
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
        "status": MessageStatus.QUEUED,
        "reason": reason,
        "error_message": "",
        "attempts": 0,
        "next_attempt_at": REPLY_FIRST,
        "created_at": now,
        "price_unit": "",
    }
    event = {
        "kind": MessageEvent.Kind.QUEUED,
        "at": now,
        "reason": reason,
        "data": {
            "via": "rest",
            "in_reply_to": inbound.provider_sid,
            "confirms": [e.pk for e in confirms],
        },
    }
    if connection.vendor == "postgresql":
        statement, message_fields, event_fields = sql.reply_with_event_sql(
            tuple(message), tuple(event)
        )
        params = [
            *prepared(message_fields, tuple(message), [message]),
            *prepared(event_fields, tuple(event), [event]),
        ]
        with connection.cursor() as cursor:
            cursor.execute(statement, params)
            return cursor.fetchone()[0]
    message_id = insert(OutboundMessage, [message])[0]
    insert(MessageEvent, [{"message_id": message_id, **event}], returning=False)
    return message_id
