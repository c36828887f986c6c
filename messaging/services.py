"""Messaging entry points that admin, API, webhooks and tasks call; none of them writes a status.

- `message_queue`: one message (API, agent reply, test send) through the consent gate.
- `message_send`: a partner's transactional message from an approved template version.
- `apply_error_side_effects`: what a permanent provider error means for consent and suppression.
- `record_event`: append to a message's log.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from config.lib.queueing import enqueue
from consent import services as consent_services
from consent.models import ConsentMethod, Contact, Program, SuppressionReason
from consent.phones import normalize_phone
from consent.selectors import can_message
from templates.encoding import analyze
from templates.models import VersionStatus
from templates.rendering import MissingTokenError, contact_token_values, token_values

from . import counters
from .holds import policy_hold
from .links import body_for_count
from .models import (
    ApiClient,
    BlockReason,
    MessageEvent,
    MessageKind,
    MessageStatus,
    OutboundMessage,
    Sender,
)

if TYPE_CHECKING:
    from templates.models import TemplateVersion

#: Twilio refuses a longer body (error 21617).
MAX_BODY_CHARACTERS = 1600

#: Permanent provider errors and what they say about the number.
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
    event_data: dict[str, Any] | None = None,
    flow=None,
) -> OutboundMessage:
    """Queue one message, or record why it may not go (status blocked, with the reason).

    The consent gate is asked now and again by dispatch right before hand-off; a template
    version must be approved. The row is the decision log either way. `event_data` goes into
    the first event's data (the API records which client asked); `flow` is the flow sending it.
    When the program tracks links, dispatch makes the short links at hand-off
    (`links.LinkMaker`); the segments counted now assume them.
    """
    message_type = message_type or program.message_type
    sender = sender or default_sender(program)
    reason = ""
    decision = can_message(contact.phone or "", program, message_type)
    if not decision.allowed:
        reason = decision.reason
    elif template_version is not None and template_version.status != VersionStatus.APPROVED:
        reason = BlockReason.NOT_APPROVED
    elif sender is None:
        reason = BlockReason.NO_SENDER
    analysis = analyze(body_for_count(program, body))
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
            flow=flow,
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
            data=event_data,
        )
    return message


class SendError(ValueError):
    """A send refused outright; the message says why and `field` names the input. Nothing
    was written."""

    def __init__(self, message: str, *, code: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.field = field


def message_send(
    *,
    phone: str,
    program: Program,
    template_version: TemplateVersion,
    context: dict[str, Any],
    message_type: str | None = None,
    send_at: datetime | None = None,
    client: ApiClient | None = None,
) -> OutboundMessage:
    """Send one message of `program` to `phone` from an approved `template_version`.

    Refused with nothing written: a phone that does not parse (`InvalidPhoneNumber`); a version
    that is not approved or belongs to another program, a token with no value in `context` or
    on the contact, a rendered body over 1600 characters (`SendError`). Otherwise the contact
    is found or created and the body goes through `message_queue` (kind API, default message
    type the program's), so the answer is the gate's: `queued`, or `blocked` with its reason.
    A queued message that quiet hours or a frequency cap would stop at `send_at` (default and
    at the earliest now) is `held` at once, with the reason and `next_attempt_at` set to the
    moment it may go.

    `context` fills ``{event.<key>}`` tokens; an ISO 8601 string with an offset is a datetime
    (shown in the contact's time zone), a plain ``YYYY-MM-DD`` a date. Contact fields and
    attributes fill the rest. `client` (an `ApiClient`) is recorded in the first event's data
    as ``{"api_client": pk}``: the API shows a client only the messages it sent.
    """
    e164 = normalize_phone(phone)
    if template_version.status != VersionStatus.APPROVED:
        raise SendError(
            f"Version {template_version.pk} of “{template_version.template}” is "
            f"{template_version.get_status_display().lower()}; only approved versions are sent.",
            code="not_approved",
            field="template_version",
        )
    if template_version.template.program_id != program.pk:
        raise SendError(
            f"“{template_version.template}” belongs to another program, not “{program.slug}”.",
            code="wrong_program",
            field="template_version",
        )
    existing = Contact.objects.filter(phone=e164).first()
    body = _render(template_version, existing, context)
    now = timezone.now()
    if send_at is not None and send_at < now:
        send_at = None  # a moment already past means now, not a place ahead in the queue
    with transaction.atomic():
        contact = existing or consent_services.contact_get_or_create(phone=e164)
        message = message_queue(
            contact=contact,
            program=program,
            body=body,
            kind=MessageKind.API,
            message_type=message_type or program.message_type,
            template_version=template_version,
            send_at=send_at,
            event_data={"api_client": client.pk} if client is not None else None,
        )
        if message.status == MessageStatus.QUEUED:
            hold = policy_hold(message, max(now, message.next_attempt_at))
            if hold is not None:
                _hold_now(message, *hold)
            elif message.next_attempt_at <= now:
                enqueue("messaging.tasks.dispatch")
    return message


def _render(version: TemplateVersion, contact: Contact | None, context: dict[str, Any]) -> str:
    event = _event_values(context)
    if contact is None:  # a new number: its contact is made only once the message may be sent
        values = token_values(None, event=event)
    else:
        values = contact_token_values(contact, event=event)
    try:
        body = version.compiled.render(values, tz=(contact and contact.time_zone) or None)
    except MissingTokenError as exc:
        names = ", ".join("{" + t + "}" for t in exc.tokens)
        raise SendError(
            f"No value for {names}: give event values in “context”, or set the contact's fields.",
            code="missing_token",
            field="context",
        ) from exc
    if len(body) > MAX_BODY_CHARACTERS:
        raise SendError(
            f"The message would be {len(body)} characters; at most {MAX_BODY_CHARACTERS} are sent.",
            code="body_too_long",
            field="context",
        )
    return body


def _event_values(context: dict[str, Any]) -> dict[str, Any]:
    """JSON has no dates: read ISO strings as datetimes (with an offset) or dates."""
    values: dict[str, Any] = {}
    for key, value in context.items():
        if isinstance(value, str) and len(value) >= 10 and value[:4].isdigit():
            try:
                moment = datetime.fromisoformat(value)
            except ValueError:
                pass
            else:
                if moment.tzinfo is not None:
                    value = moment
                elif len(value) == 10:
                    value = date.fromisoformat(value)
        values[key] = value
    return values


def _hold_now(message: OutboundMessage, reason: str, until: datetime) -> None:
    """queued -> held (a guarded update and its event), as dispatch's own hold does."""
    held = OutboundMessage.objects.filter(pk=message.pk, status=MessageStatus.QUEUED).update(
        status=MessageStatus.HELD, reason=reason, next_attempt_at=until
    )
    if held:
        record_event(
            message, MessageEvent.Kind.HELD, reason=reason, data={"until": until.isoformat()}
        )
        message.status, message.reason, message.next_attempt_at = MessageStatus.HELD, reason, until


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
        results = consent_services.consent_revoke(
            contact=message.contact,
            revoke_all=True,
            programs=[message.program],
            method=ConsentMethod.CARRIER,
            source=f"twilio error 21610 sending message #{message.pk}",
            evidence=evidence,
            recorded_by_label=label,
            suppression_reason=SuppressionReason.CARRIER_21610,
            idempotency_key=f"21610:{message.to}:{message.pk}",
        )
        counters.opt_outs_attribute(r.event for r in results if r.created)
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
    "SendError",
    "apply_error_side_effects",
    "default_sender",
    "message_queue",
    "message_send",
    "record_event",
]
