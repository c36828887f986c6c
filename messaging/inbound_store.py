"""The rows the inbound handler writes for every message, in plain SQL.

Why not the ORM: on this 2-core machine an ORM statement costs 0.2-0.35 ms of Python (query
compilation, model instances), the same statement through a cursor 0.02 ms, and a STOP makes a
dozen. The inbound webhook must do 500 requests/s (shared/PERF.md, Web); the statements this
module owns (the contact look-up, the inbound row, the reply, its event and confirmations)
cut the STOP path's Python time by about 45%. Consent still changes only through
`consent.services`.

Column lists are explicit: a new NOT NULL column without a database default on these tables
must be added here (the inbound tests fail loudly until it is). Values are adapted by the
model fields themselves (`get_db_prep_save`), so datetimes and JSON are stored exactly as the
ORM stores them, on PostgreSQL and SQLite alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from django.db import connection, models

from consent import services as consent_services
from consent.models import ConsentConfirmation, ConsentEvent, Contact, MessageType

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
    return _loaded(Contact(pk=row[0], phone=e164))


def inbound_insert(**values: Any) -> InboundMessage:
    """Insert the inbound row; raises IntegrityError for a MessageSid already stored."""
    pk = _insert(InboundMessage, [values])[0]
    return _loaded(InboundMessage(pk=pk, **values))


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
    message_id = _insert(
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
    _insert(MessageEvent, [event], returning=False)
    if confirms:
        confirmations = [
            {"event_id": e.pk, "sent_at": now, "message_ref": str(message_id)} for e in confirms
        ]
        _insert(ConsentConfirmation, confirmations, returning=False)
    return message_id


def _loaded(instance: models.Model) -> models.Model:
    instance._state.adding = False
    instance._state.db = connection.alias
    return instance


def _insert(
    model: type[models.Model], rows: list[dict[str, Any]], *, returning: bool = True
) -> list[int]:
    """INSERT `rows` (dicts with the same field names) in one statement; their ids if asked."""
    names = tuple(rows[0])
    sql, adapted = _insert_sql(model, names, len(rows), returning)
    params = [
        field.get_db_prep_save(row[name], connection) if field else row[name]
        for row in rows
        for field, name in zip(adapted, names, strict=True)
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()] if returning else []


# Only these need the field's own adaptation; strings and numbers go to the driver as they are.
_ADAPTED = (models.DateTimeField, models.JSONField)


@lru_cache(maxsize=32)
def _insert_sql(
    model: type[models.Model], names: tuple[str, ...], count: int, returning: bool
) -> tuple[str, tuple[models.Field | None, ...]]:
    """The statement, and per column the field that adapts its values (None: as they are)."""
    quote = connection.ops.quote_name
    opts = model._meta
    fields = [opts.get_field(name) for name in names]
    columns = ", ".join(quote(field.column) for field in fields)
    marks = "(" + ", ".join(["%s"] * len(names)) + ")"
    # Identifiers come from the model, quoted; every value is a parameter.
    sql = f"INSERT INTO {quote(opts.db_table)} ({columns}) VALUES {', '.join([marks] * count)}"  # noqa: S608
    if returning:
        sql += f" RETURNING {quote(opts.pk.column)}"
    return sql, tuple(f if isinstance(f, _ADAPTED) else None for f in fields)
