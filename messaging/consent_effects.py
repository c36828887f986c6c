"""What a consent change means for messaging, in the transaction that records it.

`consent.services` calls these two, the one place a lower app calls a higher one (named as the
exception in the import contract in pyproject.toml):

- `cancel_waiting_messages`: an opt-out cancels what is still waiting to that person;
- `webhook_emit_consent`: partners hear of opt-ins and opt-outs through the webhook outbox;
- `erase_personal_data`: an erasure blanks what messaging keeps of the person (the IP address
  and user agent of their link clicks).

This module must never import `consent.services` (directly or through another module).
"""

from __future__ import annotations

from django.db import connection
from django.utils import timezone

from consent.models import Contact, Program

from . import sql
from .keyword_replies import GATE_EXEMPT_REASONS
from .models import BlockReason, Click, MessageEvent, MessageKind, MessageStatus
from .models.outbound import WAITING
from .partner_webhooks import webhook_emit_consent


def cancel_waiting_messages(
    *,
    contact: Contact,
    programs: list[Program] | None,
    reason: str = BlockReason.CANCELLED_BY_OPT_OUT,
) -> int:
    """Cancel every queued or held message to `contact` for `programs` (None: all programs).

    Called inside the transaction that records an opt-out, so nothing waiting survives it.
    Messages already being handed over (`sending`) are stopped by dispatch's own re-check.
    One UPDATE ... RETURNING (plain SQL: it runs on every STOP): exactly the rows it changed
    get their event, even if a dispatcher claims one of them meanwhile.
    """
    program_ids = None if programs is None else tuple(p.pk for p in programs)
    if program_ids == ():
        return 0
    statement = sql.cancel_waiting_sql(
        len(program_ids or ()), len(WAITING), len(GATE_EXEMPT_REASONS)
    )
    params = [
        MessageStatus.CANCELLED,
        reason,
        contact.pk,
        *WAITING,
        *(program_ids or ()),
        MessageKind.AUTO_REPLY,
        *sorted(GATE_EXEMPT_REASONS),
    ]
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        ids = [row[0] for row in cursor.fetchall()]
    if ids:
        now = timezone.now()
        MessageEvent.objects.bulk_create(
            MessageEvent(message_id=pk, kind=MessageEvent.Kind.CANCELLED, reason=reason, at=now)
            for pk in ids
        )
    cancelled = len(ids)
    return cancelled


def erase_personal_data(*, contact: Contact) -> int:
    """Blank the IP address and user agent of the person's clicks (an erasure request); the
    clicks themselves stay, as counts. Returns the clicks blanked."""
    return (
        Click.objects.filter(contact_id=contact.pk)
        .exclude(ip__isnull=True, user_agent="")
        .update(ip=None, user_agent="")
    )


__all__ = ["cancel_waiting_messages", "erase_personal_data", "webhook_emit_consent"]
