"""Handle one incoming SMS: store it raw, once, and do what it asks.

`inbound_receive(params=...)` takes the POST parameters exactly as Twilio sent them (signature
already checked) and returns the reply text for the TwiML answer ("" for none). Contract:
- the `InboundMessage` row (unique `provider_sid`) is inserted first, in the one transaction
  holding everything the message causes; a retried MessageSid gets the first delivery's reply;
- an opt-out is recorded, and waiting messages cancelled, before the transaction commits;
- a message to a number with no sender is still handled (`messaging.unconfigured`);
- parameters are made storable first, so no revocation is lost to a character the database
  refuses;
- a reply (neither an opt-out nor a HELP) from a known contact to one of our senders is told,
  after its own handling, to the `reply_hooks` a higher app registered (campaigns: a flow's
  success reply), in that same transaction.
Routing by intent, replies and the number-without-sender case: docs/inbound.md.
"""

from __future__ import annotations

import logging
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from config.lib.business_days import add_business_days
from config.lib.process_cache import ProcessCache
from config.lib.queueing import enqueue
from config.lib.text import storable_params
from consent import services as consent_services
from consent.models import (
    ConsentEvent,
    ConsentKind,
    ConsentMethod,
    ConsentState,
    ConsentStatus,
    Contact,
    MessageType,
    Program,
    Suppression,
    SuppressionReason,
)
from consent.phones import InvalidPhoneNumber, normalize_phone, phone_hash
from consent.selectors import can_message
from consent.services import ConsentError
from templates.encoding import analyze

from . import counters
from .conversations import after_hours_since, business_hours, conversation_touch
from .inbound_store import contact_ref, inbound_insert, reply_insert
from .keyword_replies import provider_confirmations_record
from .keywords import Assessment, Intent, assess
from .models import (
    InboundMessage,
    MessageKind,
    OutboundMessage,
    RevocationReview,
    Sender,
)
from .provider_keywords import authoritative, provider_answered, provider_keyword
from .unconfigured import help_text, unconfigured_alert, unconfigured_revoke

logger = logging.getLogger(__name__)

#: How long a process trusts its cached sender and programs (admin edits show up after this).
SENDER_CACHE_SECONDS = 15.0
#: Business days to decide a possible revocation (FCC 24-24: at most 10).
REVIEW_BUSINESS_DAYS = 10
RECORDED_BY = "twilio inbound webhook"
#: Suppressions a START (or a join keyword) from the handset lifts: the person's own opt-outs.
LIFTED_BY_OPT_IN = (SuppressionReason.OPT_OUT_ALL, SuppressionReason.CARRIER_21610)

#: Told of each reply from a known contact to one of our senders, after its own handling and in
#: the transaction that stores it: `hook(message)`. Campaigns registers `flow_success_reply`
#: from its AppConfig.ready() (a flow's success reply marks the person's run), so messaging
#: never imports it. An opt-out or a HELP is never a reply to a flow: they are answered by the
#: number's rules alone, and the STOP path (benchmarked) pays nothing for the hooks.
reply_hooks: list[Callable[[InboundMessage], object]] = []
_NOT_TOLD = (InboundMessage.Intent.OPT_OUT, InboundMessage.Intent.HELP)


class Reply:
    """Values of `OutboundMessage.reason` for the replies sent here."""

    STOP = "stop_confirmation"
    HELP = "help_reply"
    OPT_IN = "opt_in_confirmation"
    AFTER_HOURS = "after_hours"


class MissingParameter(ValueError):
    """The request lacks MessageSid, From or To: not a Twilio message webhook."""


class InvalidParameter(MissingParameter):
    """A MessageSid longer than any provider's (64): never truncated, so refused."""


#: The longest MessageSid stored (Twilio's are 34 characters).
MAX_SID_LENGTH = InboundMessage._meta.get_field("provider_sid").max_length


# --- Senders, cached ------------------------------------------------------------------------


@dataclass(frozen=True)
class SenderInfo:
    """One of our numbers and the programs it sends for, in a stable order (by id)."""

    sender: Sender
    programs: tuple[Program, ...]


_senders: ProcessCache[SenderInfo | None] = ProcessCache(
    "senders by number", seconds=SENDER_CACHE_SECONDS
)


def sender_for(to_number: str, messaging_service_sid: str = "") -> SenderInfo | None:
    """The sender Twilio delivered to (by number, else by Messaging Service), cached briefly.

    Unknown numbers are cached too, so a flood to a number we do not own costs no queries.
    """
    return _senders.get_or_load(
        (to_number, messaging_service_sid), lambda: _load_sender(to_number, messaging_service_sid)
    )


def _load_sender(to_number: str, messaging_service_sid: str) -> SenderInfo | None:
    sender = Sender.objects.filter(phone_number=to_number).first() if to_number else None
    if sender is None and messaging_service_sid:
        sender = Sender.objects.filter(messaging_service_sid=messaging_service_sid).first()
    if sender is None:
        return None
    return SenderInfo(sender, tuple(sender.programs.order_by("pk")))


# --- Entry point ----------------------------------------------------------------------------


@dataclass
class _Inbound:
    """One message being handled; the handlers fill in the reply and what it confirms."""

    message: InboundMessage
    contact: Contact
    sender_info: SenderInfo
    assessment: Assessment
    matched: str = ""
    reply: str = ""
    reply_reason: str = ""
    reply_program: Program | None = None
    confirmed_events: list[ConsentEvent] = field(default_factory=list)
    #: "STOP", "HELP" or "START" when the provider already answered this message.
    provider_answered: str = ""

    @property
    def programs(self) -> tuple[Program, ...]:
        return self.sender_info.programs

    def evidence(self, **extra: Any) -> dict[str, Any]:
        return {
            "channel": "sms",
            "text": self.message.body,
            "message_sid": self.message.provider_sid,
            "from": self.message.from_number,
            "to": self.message.to_number,
            "received_at": self.message.received_at.isoformat(),
            "matched": self.matched,
            **extra,
        }

    def source(self, text: str | None = None) -> str:
        """Ledger source: "<what they texted> to <our number>"."""
        said = " ".join((text if text is not None else self.message.body).split())[:200]
        return f"{said or '(empty)'} to {self.message.to_number}"


def inbound_receive(*, params: dict[str, str], received_at: datetime | None = None) -> str:
    """Store and handle one inbound message; return the reply text ("" for none).

    `received_at` (default now) is when the provider delivered it: the revocation's time and
    the start of a review's deadline. Idempotent per MessageSid: a repeated one returns the
    first one's stored reply and changes nothing. Raises `MissingParameter` if MessageSid, From
    or To is missing, `InvalidParameter` if the MessageSid is too long to store whole. NUL and
    lone surrogate characters are replaced before anything is stored (`config.lib.text.storable`).
    """
    params = storable_params(params)
    sid = params.get("MessageSid") or params.get("SmsSid") or ""
    from_number, to_number = params.get("From", ""), params.get("To", "")
    if not (sid and from_number and to_number):
        raise MissingParameter("MessageSid, From and To are required.")
    if len(sid) > MAX_SID_LENGTH:
        raise InvalidParameter(f"MessageSid is longer than {MAX_SID_LENGTH} characters.")
    body = params.get("Body", "")
    sender_info = sender_for(to_number, params.get("MessagingServiceSid", ""))
    assessment = authoritative(assess(body), params)
    provider = provider_answered(params, sender_info.sender if sender_info else None)
    try:
        e164: str | None = normalize_phone(from_number)
    except InvalidPhoneNumber:
        e164 = None  # a short code or an alphanumeric sender: stored, never answered
    try:
        with transaction.atomic():
            contact = None
            if e164 is not None and (sender_info is not None or _may_revoke(assessment)):
                contact = contact_ref(e164)
            message = inbound_insert(
                provider_sid=sid,
                from_number=e164 or from_number[:32],
                to_number=to_number[:32],
                body=body,
                raw=params,
                received_at=received_at or timezone.now(),
                contact_id=contact.pk if contact else None,
                sender_id=sender_info.sender.pk if sender_info else None,
                intent=_stored_intent(assessment),
                matched=assessment.matched[:100],
                reply=_expected_reply(assessment, sender_info, provider) if contact else "",
                answered_by=(
                    _expected_answerer(assessment, provider) if contact and sender_info else ""
                ),
                handled_at=timezone.now(),
            )
            if sender_info is None:
                return _unconfigured(message, contact, assessment, e164, provider)
            if contact is None:
                logger.info("Inbound %s to %s: unknown number, stored only", sid, to_number)
                return ""
            reply = _handle(
                _Inbound(
                    message,
                    contact,
                    sender_info,
                    assessment,
                    message.matched,
                    provider_answered=provider,
                )
            )
            counters.reply_attribute(message)
            if message.intent not in _NOT_TOLD:
                for hook in reply_hooks:
                    hook(message)
            return reply
    except IntegrityError:
        # Twilio retried: answer as the first time. The row exists unless something else failed.
        first = InboundMessage.objects.filter(provider_sid=sid).only("reply").first()
        if first is None:
            raise
        return first.reply


def _unconfigured(
    message: InboundMessage,
    contact: Contact | None,
    assessment: Assessment,
    e164: str | None,
    provider: str,
) -> str:
    """A message to one of our numbers with no sender (`messaging.unconfigured`): alert staff,
    honour a revocation for every program, answer HELP, queue a likely revocation for review.

    The provider's keyword handling covers every number of the account, configured here or
    not: an exact keyword was answered (and a STOP blocked) before we were called, so we send
    nothing and record the provider's answer as the confirmation."""
    unconfigured_alert(message, message.intent)
    provider = provider or provider_keyword(message.body)
    reply = ""
    if contact is not None and assessment.intent is Intent.OPT_OUT:
        reply = unconfigured_revoke(
            message=message, contact=contact, matched=message.matched, provider=provider
        )
    elif e164 is not None and assessment.intent is Intent.HELP and not provider:
        reply = help_text()
    elif contact is not None and assessment.needs_review:
        _review(message, contact)
    answered_by = "provider" if provider and e164 is not None else ("us" if reply else "")
    if reply or answered_by:
        InboundMessage.objects.filter(pk=message.pk).update(reply=reply, answered_by=answered_by)
    return reply


def _may_revoke(assessment: Assessment) -> bool:
    return assessment.intent is Intent.OPT_OUT or assessment.needs_review


def _expected_reply(
    assessment: Assessment, sender_info: SenderInfo | None, provider: str = ""
) -> str:
    """The reply a STOP or HELP will get, known before any query: stored with the row, it
    spares the hot path an UPDATE. `_finish` corrects it if the handling says otherwise."""
    if sender_info is None:
        return ""
    if provider:
        return sender_info.sender.provider_reply_text(provider)
    if assessment.intent is Intent.OPT_OUT:
        return combined_text(sender_info.programs, "opt_out_confirmation_text")
    if assessment.intent is Intent.HELP:
        return combined_text(sender_info.programs, "help_text")
    return ""


def _expected_answerer(assessment: Assessment, provider: str) -> str:
    if provider:
        return "provider"
    return "us" if assessment.intent in (Intent.OPT_OUT, Intent.HELP) else ""


def _stored_intent(assessment: Assessment) -> str:
    if assessment.needs_review:
        return InboundMessage.Intent.REVIEW
    return str(assessment.intent)


def _handle(inbound: _Inbound) -> str:
    """Route the message, send (store) the one reply, and finish the inbound row."""
    intent = inbound.assessment.intent
    conversation = None
    if intent is Intent.OPT_OUT:
        _opt_out(inbound)
    elif intent is Intent.HELP:  # to anyone, subscribed or not; consent is untouched
        _set_reply(inbound, inbound.programs, "help_text", Reply.HELP, [])
    elif (joined := _join_keyword_program(inbound)) is not None:
        if not _join(inbound, *joined):
            conversation = _to_conversation(inbound)
    elif intent is Intent.OPT_IN:
        if not _opt_in(inbound):
            conversation = _to_conversation(inbound)
    elif inbound.assessment.needs_review:
        conversation = _to_conversation(inbound, acknowledge=False)
        _review(inbound.message, inbound.contact)
    else:
        conversation = _to_conversation(inbound)
    return _finish(inbound, conversation)


def _finish(inbound: _Inbound, conversation) -> str:
    message = inbound.message
    if inbound.provider_answered:
        # The provider answered before calling us: we send nothing, and its answer is the proof.
        provider_confirmations_record(events=inbound.confirmed_events, inbound=message)
        final = inbound.sender_info.sender.provider_reply_text(inbound.provider_answered)
        answered_by = "provider"
    else:
        reply = _store_reply(inbound) if inbound.reply else None
        final = inbound.reply if reply is not None else ""
        answered_by = "us" if reply is not None else ""
        if reply is not None:
            enqueue("messaging.tasks.dispatch")
    changes: dict[str, Any] = {}
    if final != message.reply:
        changes["reply"] = final
    if answered_by != message.answered_by:
        changes["answered_by"] = answered_by
    if conversation is not None:
        changes["conversation"] = conversation
    if message.intent != (intent := _final_intent(inbound)):
        changes["intent"] = intent
    if message.matched != inbound.matched:
        changes["matched"] = inbound.matched[:100]
    if changes:
        InboundMessage.objects.filter(pk=message.pk).update(**changes)
    return final


def _final_intent(inbound: _Inbound) -> str:
    if inbound.reply_reason == Reply.OPT_IN:
        return InboundMessage.Intent.OPT_IN  # a join keyword is an opt-in, whatever assess said
    return inbound.message.intent


# --- Opt-out --------------------------------------------------------------------------------


def _opt_out(inbound: _Inbound) -> None:
    """Revoke, cancel what waits (inside `consent_revoke`), and confirm once."""
    stop_all = inbound.assessment.matched == "keyword:stopall"
    revoke_all = stop_all or settings.SMS_REVOKE_ALL
    # A number with no programs cannot scope a revocation: the person's wish covers everything.
    revoke_all = revoke_all or not inbound.programs
    results = consent_services.consent_revoke(
        contact=inbound.contact,
        programs=list(inbound.programs),
        revoke_all=revoke_all,
        method=ConsentMethod.KEYWORD,
        source=inbound.source(),
        occurred_at=inbound.message.received_at,
        evidence=inbound.evidence(scope="all" if revoke_all else "sender programs"),
        recorded_by_label=RECORDED_BY,
    )
    events = [r.event for r in results if r.created]
    counters.opt_outs_attribute(events)
    programs = inbound.programs or tuple(_programs_of(events))
    _set_reply(inbound, programs, "opt_out_confirmation_text", Reply.STOP, events)


def _programs_of(events: list[ConsentEvent]) -> list[Program]:
    return sorted({e.program_id: e.program for e in events}.values(), key=lambda p: p.pk)


# --- Opt-in ---------------------------------------------------------------------------------

_PUNCTUATION = string.punctuation + string.whitespace + "¡¿"


def _whole_word(text: str) -> str:
    return text.strip(_PUNCTUATION).casefold()


def _join_keyword_program(inbound: _Inbound) -> tuple[Program, str] | None:
    """The sender's active program whose join keyword is the whole message, and the keyword."""
    word = _whole_word(inbound.message.body)
    if not word:
        return None
    for program in inbound.programs:
        for keyword in program.join_keywords or []:
            if program.active and _whole_word(str(keyword)) == word:
                return program, str(keyword).strip().upper()
    return None


def _join(inbound: _Inbound, program: Program, keyword: str) -> bool:
    """Opt in to `program` by its keyword. Texted from the handset: no YES step needed."""
    try:
        recorded = consent_services.consent_opt_in(
            contact=inbound.contact,
            program=program,
            method=ConsentMethod.KEYWORD,
            source=inbound.source(keyword),
            occurred_at=inbound.message.received_at,
            confirmed=True,
            evidence=inbound.evidence(keyword=keyword),
            recorded_by_label=RECORDED_BY,
        )
    except ConsentError as exc:
        inbound.matched = f"join:{keyword} refused ({exc.code})"
        return False
    inbound.matched = f"join:{keyword}"
    _lift_own_suppressions(inbound)
    _set_reply(inbound, (program,), "opt_in_confirmation_text", Reply.OPT_IN, [recorded.event])
    return True


def _opt_in(inbound: _Inbound) -> bool:
    """YES confirms what is pending; START/UNSTOP re-opt-in what was opted out. False: nothing."""
    word = inbound.assessment.matched.removeprefix("keyword:")
    states = {
        s.program_id: s
        for s in ConsentState.objects.filter(contact=inbound.contact, program__in=inbound.programs)
    }
    events: list[ConsentEvent] = []
    if word in ("yes", "si"):
        pending = [p for p in inbound.programs if _status(states, p) == ConsentStatus.PENDING]
        for program in pending:
            try:
                events.append(
                    consent_services.consent_confirm(
                        contact=inbound.contact,
                        program=program,
                        method=ConsentMethod.KEYWORD,
                        source=inbound.source(),
                        occurred_at=inbound.message.received_at,
                        evidence=inbound.evidence(),
                        recorded_by_label=RECORDED_BY,
                    ).event
                )
            except ConsentError:
                continue  # confirmed or revoked meanwhile: nothing left to confirm
    if not events:
        # Twilio treats YES like START; so do we when there is nothing to confirm.
        lifted = _lift_own_suppressions(inbound)
        for program in _opted_out_after_opting_in(inbound, states):
            try:
                events.append(
                    consent_services.consent_opt_in(
                        contact=inbound.contact,
                        program=program,
                        method=ConsentMethod.KEYWORD,
                        source=inbound.source(word.upper()),
                        occurred_at=inbound.message.received_at,
                        confirmed=True,
                        evidence=inbound.evidence(lifted_suppressions=lifted),
                        recorded_by_label=RECORDED_BY,
                    ).event
                )
            except ConsentError:
                continue  # an inactive program or an erased contact stays as it is
    if not events:
        inbound.matched = f"{inbound.matched} (nothing to opt in)"
        return False
    _set_reply(inbound, _programs_of(events), "opt_in_confirmation_text", Reply.OPT_IN, events)
    return True


def _opted_out_after_opting_in(inbound: _Inbound, states: dict[int, ConsentState]) -> list[Program]:
    """The sender's programs the person had joined and then left.

    A STOP records an opt-out for every program of the number, joined or not; START restores
    only what the person had actually opted in to.
    """
    opted_out = [p for p in inbound.programs if _status(states, p) == ConsentStatus.OPTED_OUT]
    if not opted_out:
        return []
    joined = set(
        ConsentEvent.objects.filter(
            contact=inbound.contact,
            program__in=opted_out,
            kind__in=[ConsentKind.OPT_IN, ConsentKind.RE_OPT_IN, ConsentKind.OPT_IN_CONFIRMED],
        ).values_list("program_id", flat=True)
    )
    return [p for p in opted_out if p.pk in joined]


def _status(states: dict[int, ConsentState], program: Program) -> str | None:
    state = states.get(program.pk)
    return state.status if state else None


def _lift_own_suppressions(inbound: _Inbound) -> list[int]:
    """Lift the all-program suppressions the person's own opt-outs left; returns their ids."""
    active = Suppression.objects.suppressing(phone_hash(inbound.contact.phone or ""), None).filter(
        reason__in=LIFTED_BY_OPT_IN
    )
    note = f"{inbound.source()} (MessageSid {inbound.message.provider_sid})"
    return [
        s.pk for s in active if consent_services.suppression_lift(suppression=s, by=None, note=note)
    ]


# --- Review and conversations ---------------------------------------------------------------


def _review(message: InboundMessage, contact: Contact) -> RevocationReview:
    """A possible revocation, for a person to decide within 10 business days (federal holidays
    excluded), counted in the business time zone."""
    received = timezone.localtime(message.received_at, business_hours().zone)
    return RevocationReview.objects.create(
        inbound=message,
        contact=contact,
        deadline=add_business_days(received, REVIEW_BUSINESS_DAYS),
    )


def _to_conversation(inbound: _Inbound, *, acknowledge: bool = True):
    """Open or reopen the conversation; maybe acknowledge a message written after hours."""
    now = inbound.message.received_at
    conversation = conversation_touch(
        contact=inbound.contact,
        sender=inbound.sender_info.sender,
        at=now,
        text=inbound.message.body,
    )
    if _whole_word(inbound.message.body).upper() in _support_keywords():
        inbound.matched = f"support:{_whole_word(inbound.message.body).upper()}"
    text = settings.SMS_AFTER_HOURS_REPLY.strip()
    if acknowledge and text and inbound.programs:
        since = after_hours_since(now)
        if since is not None and not _acknowledged_since(inbound, since):
            program = inbound.programs[0]
            phone = inbound.contact.phone or ""
            if can_message(phone, program, MessageType.CUSTOMER_CARE):
                inbound.reply, inbound.reply_reason, inbound.reply_program = (
                    text,
                    Reply.AFTER_HOURS,
                    program,
                )
    return conversation


def _support_keywords() -> frozenset[str]:
    words = settings.SMS_SUPPORT_KEYWORDS
    return frozenset(str(w).strip().upper() for w in words)


def _acknowledged_since(inbound: _Inbound, since: datetime) -> bool:
    return OutboundMessage.objects.filter(
        contact=inbound.contact,
        sender=inbound.sender_info.sender,
        kind=MessageKind.AUTO_REPLY,
        reason=Reply.AFTER_HOURS,
        in_reply_to__received_at__gte=since,  # a message of this night was acknowledged
    ).exists()


# --- The one reply --------------------------------------------------------------------------


def combined_text(programs: tuple[Program, ...] | list[Program], attribute: str) -> str:
    """One message from the programs' texts: the first program of each brand, joined."""
    texts: list[str] = []
    brands: set[str] = set()
    for program in programs:
        text = (getattr(program, attribute) or "").strip()
        if text and program.brand_name not in brands and text not in texts:
            brands.add(program.brand_name)
            texts.append(text)
    return "\n".join(texts)


def _set_reply(
    inbound: _Inbound,
    programs: tuple[Program, ...] | list[Program],
    attribute: str,
    reason: str,
    events: list[ConsentEvent],
) -> None:
    text = combined_text(programs, attribute)
    if text:
        inbound.reply, inbound.reply_reason, inbound.reply_program = text, reason, programs[0]
    inbound.confirmed_events = events


@lru_cache(maxsize=256)
def _encoding(body: str) -> tuple[str, int]:
    """Program texts repeat: analyse each once per process."""
    analysis = analyze(body)
    return analysis.encoding, analysis.segments


def _store_reply(inbound: _Inbound) -> int | None:
    """Queue our reply for the dispatcher; it confirms its consent events once accepted."""
    if inbound.reply_program is None:
        return None
    encoding, segments = _encoding(inbound.reply)
    return reply_insert(
        inbound=inbound.message,
        contact=inbound.contact,
        sender_id=inbound.sender_info.sender.pk,
        program_id=inbound.reply_program.pk,
        body=inbound.reply,
        encoding=encoding,
        segments=segments,
        reason=inbound.reply_reason,
        confirms=inbound.confirmed_events,
        now=timezone.now(),
    )


__all__ = [
    "InvalidParameter",
    "MissingParameter",
    "Reply",
    "SenderInfo",
    "combined_text",
    "inbound_receive",
    "reply_hooks",
    "sender_for",
]
