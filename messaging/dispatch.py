"""Dispatch: hand due messages to the provider, in batches, at most once each.

One call of `Dispatcher.run_batch` claims up to `SMS_DISPATCH_BATCH` due messages (queued or
held whose `next_attempt_at` has come) with `SELECT ... FOR UPDATE SKIP LOCKED`, marks them
`sending` under one lease, and then:

1. holds each message the recipient's quiet hours, the frequency cap or a pending
   reassigned-number check say not now for (status `held`, `next_attempt_at` = when it may go),
   and blocks those without an active sender or to a reassigned number;
2. takes the others in chunks of one sender (`throttle.chunks`): counts a chunk against the
   sender's daily segment cap (what does not fit is held until midnight UTC) and takes its
   rate tokens in one go (shared by all workers), then hands each message over at the moment
   its own tokens are paid for (`throttle.pace`). The batch never sleeps past its deadline, the
   last moment a hand-off may start (3): tokens are taken only for the messages the sender's
   bucket pays for by then, and the rest of the chunk goes back to the queue at once, untried
   (`queued`, due when the bucket, as it stood, would have paid for the first of them; their
   daily segments given back). However deep a sender's bucket is in debt (other workers'
   batches, a burst), a batch waits for it no longer than its lease allows, and that deadline
   plus one provider request ends inside the dispatch task's timeout (`messaging.checks` warns
   when settings break it), so django-q2 never kills a batch asleep. Taking no tokens for what
   goes back keeps the debt honest: later batches wait only for messages really sent;
3. right before each hand-off, asks the consent gate: an opt-out committed by then blocks the
   message. Before that: no hand-off starts once less than `LEASE_MARGIN` of the lease is left
   (`hand_off_deadline`; the message goes back to the queue untried), so reconciliation never
   judges a row whose hand-off may still be under way; and a message whose earlier attempt may
   have reached the provider (a timeout, a 5xx) is looked up there first (`find_sent`): found,
   it is recorded as sent instead of being sent again;
4. records the outcomes: a chunk's `sent` rows in one transaction, each guarded by the lease;
   a transient error goes back to `queued` with exponential backoff and jitter (until
   `SMS_MAX_ATTEMPTS`); a permanent one fails at once, with its side effects (21610 opt-out,
   invalid numbers).

A worker killed mid-batch leaves `sending` rows (claimed, or handed over and not yet recorded)
whose lease expires; `messaging.reconcile` settles them by asking the provider, never by a
blind re-send.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from consent.models import ConsentState, MessageType
from consent.selectors import Reason, gate
from templates.encoding import analyze

from . import counters, sql, throttle
from .callbacks import callbacks_apply_pending
from .holds import policy_hold
from .keyword_replies import accepted_confirmations_record, gate_exempt
from .links import LinkMaker
from .models import (
    BlockReason,
    HoldReason,
    MessageEvent,
    MessageStatus,
    OutboundMessage,
    ReassignedNumberCheck,
    StatusCallback,
)
from .models.outbound import WAITING
from .partner_webhooks import webhook_emit_message_status
from .providers import OutboundRequest, ProviderError, SendResult, get_backend
from .reassigned import (
    SOURCE_NOT_CONFIGURED,
    ReassignedVerdict,
    check_for_dispatch,
    reassigned_side_effects,
)
from .services import apply_error_side_effects, record_event

log = logging.getLogger(__name__)

#: Share of the lease that must be left for a hand-off to start: the request (bounded by the
#: provider client's timeout) and the settle after it must end before the lease does, because
#: reconciliation judges rows whose lease expired as abandoned.
LEASE_MARGIN = 0.25
#: First wait after a reassigned-number look-up failed for a passing reason (then doubled).
LOOKUP_RETRY = timedelta(minutes=15)


@dataclass
class DispatchReport:
    claimed: int = 0
    sent: int = 0
    held: int = 0
    blocked: int = 0
    retried: int = 0
    failed: int = 0
    released: int = 0
    campaigns: set[int] = field(default_factory=set)

    def add(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)


def status_callback_url(message_id: int) -> str:
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}/webhooks/twilio/status/?mid={message_id}"


def claim_due(*, limit: int, now: datetime | None = None) -> list[OutboundMessage]:
    """Claim up to `limit` due messages for this worker: they become `sending` under a lease."""
    now = now or timezone.now()
    # A lease value unique to this claim tells our rows apart from another worker's.
    lease = now + timedelta(
        seconds=settings.SMS_LEASE_SECONDS, microseconds=uuid.uuid4().int % 999_983
    )
    runnable = Q(campaign__isnull=True) | Q(campaign__status="sending")
    with transaction.atomic():
        ids = list(
            OutboundMessage.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(runnable, status__in=WAITING, next_attempt_at__lte=now)
            .order_by("next_attempt_at")
            .values_list("pk", flat=True)[:limit]
        )
        if not ids:
            return []
        OutboundMessage.objects.filter(pk__in=ids, status__in=WAITING).update(
            status=MessageStatus.SENDING, lease_expires_at=lease, attempts=F("attempts") + 1
        )
    return list(
        OutboundMessage.objects.filter(
            pk__in=ids, status=MessageStatus.SENDING, lease_expires_at=lease
        )
        .select_related("sender", "program", "contact", "campaign")
        .order_by("next_attempt_at", "pk")
    )


def _settle(
    message: OutboundMessage,
    *,
    event: str,
    fields: dict,
    why: str = "",
    data=None,
    then: Callable[[], Any] | None = None,
) -> bool:
    """Move a claimed message out of `sending`, guarded by our lease; False if we lost it.

    `fields` are the columns to set; `why` and `data` go on the event row; `then` runs in the
    same transaction once the move is made (e.g. the partners' webhook outbox).
    """
    with transaction.atomic():
        updated = OutboundMessage.objects.filter(
            pk=message.pk, status=MessageStatus.SENDING, lease_expires_at=message.lease_expires_at
        ).update(**fields)
        if updated:
            record_event(message, event, reason=why, error_code=fields.get("error_code"), data=data)
            if then is not None:
                then()
    if not updated:
        log.warning(
            "message %s changed under us (lease expired?); outcome %s kept aside", message.pk, event
        )
    return bool(updated)


def _hold(message: OutboundMessage, reason: str, until: datetime) -> None:
    _settle(
        message,
        event=MessageEvent.Kind.HELD,
        why=reason,
        data={"until": until.isoformat()},
        fields={
            "status": MessageStatus.HELD,
            "reason": reason,
            "next_attempt_at": until,
            "lease_expires_at": None,
            "attempts": F("attempts") - 1,  # a hold is not an attempt
        },
    )


def _block(message: OutboundMessage, reason: str) -> None:
    _settle(
        message,
        event=MessageEvent.Kind.BLOCKED,
        why=reason,
        fields={"status": MessageStatus.BLOCKED, "reason": reason, "lease_expires_at": None},
    )


def hand_off_deadline(message: OutboundMessage) -> datetime:
    """The last moment a hand-off of this claimed message may start (`LEASE_MARGIN`)."""
    margin = timedelta(seconds=settings.SMS_LEASE_SECONDS * LEASE_MARGIN)
    return message.lease_expires_at - margin


def _release(message: OutboundMessage, *, why: str, until: datetime | None = None) -> None:
    """Give a claimed message back untried, due again at once or `until` then."""
    fields = {
        "status": MessageStatus.QUEUED,
        "lease_expires_at": None,
        "attempts": F("attempts") - 1,  # it never reached the provider
    }
    if until is not None:
        fields["next_attempt_at"] = until
    _settle(
        message,
        event=MessageEvent.Kind.RELEASED,
        why=why,
        data={"until": until.isoformat()} if until is not None else None,
        fields=fields,
    )


@dataclass(frozen=True)
class Handed:
    """A message the provider accepted (or was found to have), waiting for its chunk's settle."""

    message: OutboundMessage
    result: SendResult
    at: datetime
    note: dict[str, Any] = field(default_factory=dict)


#: Columns `_settle_sent` writes per row, and what it writes, from a `Handed`.
_SENT_COLUMNS: tuple[tuple[str, Callable[[Handed], Any]], ...] = (
    ("provider_sid", lambda item: item.result.provider_sid),
    ("sent_at", lambda item: item.at),
    ("body", lambda item: item.message.body),  # with its short links (`LinkMaker`)
    ("segments", lambda item: item.message.segments),
    ("encoding", lambda item: item.message.encoding),
    ("price", lambda item: item.result.price),
    ("price_unit", lambda item: item.result.price_unit),
)


def _settle_sent(handed: list[Handed]) -> int:
    """Record accepted messages as `sent`, in one transaction; returns how many were still ours.

    Each row is guarded by its lease like `_settle`: one that reconciliation took meanwhile
    (it then found the message at the provider) is left as it is. The rows still ours are
    locked first, then updated with one statement run for every row (psycopg pipelines them):
    an ORM `update()` with a CASE per column costs more than the whole hand-off.
    """
    if not handed:
        return 0
    leases = {item.message.pk: item.message.lease_expires_at for item in handed}
    field = OutboundMessage._meta.get_field
    update = sql.sent_update_sql(tuple(name for name, _ in _SENT_COLUMNS))
    lease_field = field("lease_expires_at")
    with transaction.atomic():
        locked = set(
            OutboundMessage.objects.select_for_update()
            .filter(pk__in=leases, status=MessageStatus.SENDING)
            .values_list("pk", "lease_expires_at")
        )
        ours = [item for item in handed if (item.message.pk, leases[item.message.pk]) in locked]
        if ours:
            rows = [
                [
                    MessageStatus.SENT.value,
                    *HoldReason.values,
                    *(field(name).get_db_prep_value(get(item), connection) for name, get in
                      _SENT_COLUMNS),
                    item.message.pk,
                    MessageStatus.SENDING.value,
                    lease_field.get_db_prep_value(item.message.lease_expires_at, connection),
                ]
                for item in ours
            ]  # fmt: skip
            with connection.cursor() as cursor:
                cursor.executemany(update, rows)
            MessageEvent.objects.bulk_create(
                MessageEvent(
                    message=item.message,
                    kind=MessageEvent.Kind.SENT,
                    at=item.at,
                    data={"sid": item.result.provider_sid, **item.note},
                )
                for item in ours
            )
            accepted_confirmations_record((item.message, item.at) for item in ours)
            tally = counters.Tally()
            for item in ours:
                tally.add(
                    day=counters.utc_day(item.at),
                    dims=counters.message_dims(item.message),
                    **counters.sent_metrics(item.message, item.result.price),
                )
            tally.flush()
    if len(ours) < len(handed):
        log.warning(
            "%d accepted messages changed under us (lease expired?); their sent outcome is "
            "kept aside",
            len(handed) - len(ours),
        )
    _apply_early_callbacks(ours)
    return len(ours)


def _apply_early_callbacks(sent: list[Handed]) -> None:
    """Status callbacks can beat us to the database: apply the ones that arrived before the
    SID was recorded (one indexed look-up per chunk; there are rarely any)."""
    by_sid = {item.result.provider_sid: item.message for item in sent}
    early = set(
        StatusCallback.objects.filter(
            provider_sid__in=list(by_sid), message__isnull=True
        ).values_list("provider_sid", flat=True)
    )
    sent_at = {item.result.provider_sid: item.at for item in sent}
    for sid in early:
        message = by_sid[sid]
        message.provider_sid = sid
        message.sent_at = sent_at[sid]
        callbacks_apply_pending(message)


def backoff_seconds(attempts: int, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter: base·2^(n-1), capped, scaled by a random 0.5-1.0."""
    raw = min(settings.SMS_BACKOFF_MAX, settings.SMS_BACKOFF_BASE * 2 ** max(attempts - 1, 0))
    delay = raw * (0.5 + random.random() / 2)
    return max(delay, retry_after or 0.0)


def maybe_accepted(error: ProviderError) -> bool:
    """Whether the provider may have taken the message although the call failed.

    A 5xx, a timeout or a broken connection leave it unknown; a 429 or an authentication error
    mean the request was refused.
    """
    return error.http_status is None or error.http_status >= 500


def _opted_in_dates(messages: list[OutboundMessage]) -> dict[tuple[int, int], datetime | None]:
    """When each marketing recipient of the batch opted in, in one query (reassigned check)."""
    marketing = [m for m in messages if m.message_type == MessageType.MARKETING]
    if not marketing:
        return {}
    rows = ConsentState.objects.filter(
        contact_id__in={m.contact_id for m in marketing},
        program_id__in={m.program_id for m in marketing},
    ).values_list("contact_id", "program_id", "opted_in_at")
    return {(contact_id, program_id): at for contact_id, program_id, at in rows}


def _maybe_accepted_before(messages: list[OutboundMessage]) -> set[int]:
    """Ids of the messages an earlier attempt of which may have reached the provider."""
    again = [m.pk for m in messages if m.attempts > 1]  # claim_due counted this attempt
    if not again:
        return set()
    return set(
        MessageEvent.objects.filter(
            message_id__in=again, kind=MessageEvent.Kind.RETRIED, data__maybe_accepted=True
        ).values_list("message_id", flat=True)
    )


def _request(message: OutboundMessage) -> OutboundRequest:
    sender = message.sender
    return OutboundRequest(
        message_id=message.pk,
        to=message.to,
        body=message.body,
        from_number=None if sender.messaging_service_sid else sender.phone_number,
        messaging_service_sid=sender.messaging_service_sid,
        status_callback=status_callback_url(message.pk),
        validity_period=settings.SMS_VALIDITY_PERIOD_SECONDS,
    )


_ASK = object()


class Dispatcher:
    """Processes claimed messages. One per worker; holds the provider backend and policies."""

    def __init__(
        self,
        *,
        backend=None,
        sleep: Callable[[float], None] = time.sleep,
        policy_hold: Callable[[OutboundMessage, datetime], tuple[str, datetime] | None]
        | None = None,
    ) -> None:
        self.backend = backend or get_backend()
        self.sleep = sleep
        self.policy_hold = policy_hold or default_policy_hold()

    def run_batch(self, *, limit: int | None = None) -> DispatchReport:
        """Claim one batch and see every message of it out of `sending` (module docstring)."""
        report = DispatchReport()
        messages = claim_due(limit=limit or settings.SMS_DISPATCH_BATCH)
        report.claimed = len(messages)
        report.campaigns = {m.campaign_id for m in messages if m.campaign_id}
        if not messages:
            return report
        now = timezone.now()
        opted_in = _opted_in_dates(messages)
        link_maker = LinkMaker()
        ready = []
        for message in messages:
            outcome = self._screen(message, now, opted_in, link_maker)
            if outcome is None:
                ready.append(message)
            else:
                report.add(outcome)
        look_up = _maybe_accepted_before(ready)
        for rate, chunk in throttle.chunks(ready):
            self._send_chunk(chunk, rate, look_up, report)
        return report

    def _screen(
        self,
        message: OutboundMessage,
        now: datetime,
        opted_in: dict[tuple[int, int], datetime | None],
        link_maker: LinkMaker,
    ) -> str | None:
        """Hold or block the message if it may not go now (the outcome), else None: it is
        then ready to hand off, with its short links made and its segments counted."""
        hold = self.policy_hold(message, now)
        if hold is not None:
            reason, until = hold
            _hold(message, reason, until)
            return "held"
        sender = message.sender
        if sender is None or not sender.active:
            _block(message, BlockReason.NO_SENDER)
            return "blocked"
        reassigned = self.reassigned_verdict(
            message, now, opted_in_at=opted_in.get((message.contact_id, message.program_id))
        )
        if reassigned.action == "block":
            _block(message, BlockReason.REASSIGNED)
            return "blocked"
        if reassigned.action == "hold":
            _hold(message, HoldReason.REASSIGNED_CHECK, reassigned.until)
            return "held"
        link_maker.shorten(message)
        analysis = analyze(message.body)
        message.segments, message.encoding = analysis.segments, analysis.encoding
        return None

    def _send_chunk(
        self, chunk: list[OutboundMessage], rate: float, look_up: set[int], report: DispatchReport
    ) -> None:
        """Daily cap, rate tokens, then each hand-off at its moment; one settle for the sent."""
        sender = chunk[0].sender
        now = timezone.now()
        if sender.daily_segment_cap:
            fits = throttle.reserve_daily_segments(sender, [m.segments for m in chunk], now=now)
            for message in [m for m, fit in zip(chunk, fits, strict=True) if not fit]:
                _hold(message, HoldReason.DAILY_CAP, throttle.next_utc_midnight(now))
                report.add("held")
            chunk = [m for m, fit in zip(chunk, fits, strict=True) if fit]
            if not chunk:
                return
        # Wait for the rate only until the batch's last hand-off may start (module docstring, 2).
        within = (hand_off_deadline(chunk[0]) - timezone.now()).total_seconds()
        grant = throttle.acquire(sender, [m.segments for m in chunk], rate=rate, within=within)
        start = time.monotonic()
        chunk, later = chunk[: grant.count], chunk[grant.count :]
        handed: list[Handed] = []
        unsent_segments = 0
        try:
            until = timezone.now() + timedelta(seconds=grant.next_wait)
            for message in later:
                _release(message, why="rate_wait", until=until)
                unsent_segments += message.segments
                report.add("released")
            for message, offset in zip(chunk, throttle.pace(chunk, grant.wait, rate), strict=True):
                pause = start + offset - time.monotonic()
                if pause > 0:
                    self.sleep(pause)
                outcome = self._deliver(message, look_up, handed)
                if outcome == "released":
                    unsent_segments += message.segments
                report.add(outcome)
        finally:
            _settle_sent(handed)
            if unsent_segments and sender.daily_segment_cap:
                throttle.return_daily_segments(sender, unsent_segments, day=now.date())

    def _deliver(self, message: OutboundMessage, look_up: set[int], handed: list[Handed]) -> str:
        """Hand one message over (or find it already there); `sent` ones join `handed`."""
        if timezone.now() >= hand_off_deadline(message):
            _release(message, why="lease_ending")
            return "released"
        request = _request(message)
        if message.pk in look_up:
            try:
                found = self.backend.find_sent(request, since=message.created_at)
            except ProviderError as error:
                return self._failed(message, error)
            except NotImplementedError:
                found = None  # this backend cannot tell: send, as without the lookup
            if found and OutboundMessage.objects.filter(provider_sid=found.provider_sid).exists():
                found = None  # another message of the same text to the same number, not ours
            if found is not None:
                handed.append(Handed(message, found, timezone.now(), {"found_by_lookup": True}))
                return "sent"
        # The last word, right before hand-off: an opt-out committed by now stops it. A STOP
        # confirmation or a HELP reply goes to people the gate refuses (keyword_replies).
        verdict = Reason.OK
        if not gate_exempt(message):
            verdict = gate(
                contact_id=message.contact_id,
                contact_phone_hash=message.contact.phone_hash,
                program=message.program,
                message_type=message.message_type,
            )
        if verdict != Reason.OK:
            _block(message, verdict)
            return "blocked"
        try:
            result = self.backend.send(request)
        except ProviderError as error:
            return self._failed(message, error)
        handed.append(Handed(message, result, timezone.now()))
        return "sent"

    def reassigned_verdict(
        self, message: OutboundMessage, now: datetime, *, opted_in_at: Any = _ASK
    ) -> ReassignedVerdict:
        """Before marketing to an old consent, ask whether the number changed hands since.

        Go ahead; block (reassigned: the number is suppressed and the consent revoked); or
        hold until a time (a passing look-up failure, retried with backoff up to
        `REASSIGNED_LOOKUP_MAX_TRIES`; or "no data" under a hold policy). A
        look-up that cannot answer (not configured, 60606/60607, too many failures) counts as
        "no data" at once (`reassigned.check_for_dispatch`). Every answer is stored as
        evidence and noted on the message; a recent real answer is reused.
        `opted_in_at`: when the consent was given, if the caller already read it.
        """
        if message.message_type != MessageType.MARKETING:
            return ReassignedVerdict.go()
        days = timedelta(days=settings.REASSIGNED_CHECK_AFTER_DAYS)
        if opted_in_at is _ASK:
            state = (
                ConsentState.objects.filter(
                    contact_id=message.contact_id, program_id=message.program_id
                )
                .only("opted_in_at")
                .first()
            )
            opted_in_at = state.opted_in_at if state else None
        if opted_in_at is None or opted_in_at > now - days:
            return ReassignedVerdict.go()
        since = opted_in_at.date()
        check = (
            ReassignedNumberCheck.objects.filter(
                phone=message.to, checked_at__gte=now - days, date_asked__lte=since
            )
            .exclude(source=SOURCE_NOT_CONFIGURED)  # configuring Lookup takes effect at once
            .order_by("-checked_at")
            .first()
        )
        if check is None:
            failures = MessageEvent.objects.filter(
                message_id=message.pk,
                kind=MessageEvent.Kind.HELD,
                reason=HoldReason.REASSIGNED_CHECK,
            ).count()
            check = check_for_dispatch(
                message.to, since, contact=message.contact, failures=failures
            )
            if check is None:
                return ReassignedVerdict.hold(now + LOOKUP_RETRY * 2**failures)
        record_event(
            message,
            MessageEvent.Kind.REASSIGNED,
            data={
                "check_id": check.pk,
                "answer": check.answer,
                "source": check.source,
                "reason": check.raw.get("reason", "") if check.raw.get("no_answer") else "",
                "no_data_policy": settings.REASSIGNED_NO_DATA_POLICY,
            },
        )
        if check.answer == ReassignedNumberCheck.Answer.YES:
            reassigned_side_effects(check)
            return ReassignedVerdict.block()
        if (
            check.answer == ReassignedNumberCheck.Answer.NO_DATA
            and settings.REASSIGNED_NO_DATA_POLICY == "hold"
        ):
            return ReassignedVerdict.hold(now + timedelta(days=365))  # a person decides
        return ReassignedVerdict.go()

    def _failed(self, message: OutboundMessage, error: ProviderError) -> str:
        attempts = message.attempts  # this one included: claim_due counted it
        if error.transient and attempts < settings.SMS_MAX_ATTEMPTS:
            delay = backoff_seconds(attempts, error.retry_after)
            _settle(
                message,
                event=MessageEvent.Kind.RETRIED,
                why="transient_error",
                data={
                    "error": str(error)[:200],
                    "http_status": error.http_status,
                    "delay_seconds": round(delay, 2),
                    "attempt": attempts,
                    # The next attempt looks the message up at the provider before sending.
                    "maybe_accepted": maybe_accepted(error),
                },
                fields={
                    "status": MessageStatus.QUEUED,
                    "next_attempt_at": timezone.now() + timedelta(seconds=delay),
                    "lease_expires_at": None,
                    "error_code": error.code,
                    "error_message": str(error)[:300],
                },
            )
            return "retried"
        settled = _settle(
            message,
            event=MessageEvent.Kind.FAILED,
            why="permanent_error" if not error.transient else "too_many_attempts",
            fields={
                "status": MessageStatus.FAILED,
                "lease_expires_at": None,
                "error_code": error.code,
                "error_message": str(error)[:300],
            },
            then=lambda: _rejected(message, error.code),
        )
        if settled and not error.transient:
            apply_error_side_effects(message, error.code)
        return "failed"


def _rejected(message: OutboundMessage, error_code: int | None) -> None:
    """A permanent failure at hand-off: the partners' webhook and the counters."""
    now = timezone.now()
    webhook_emit_message_status(message, MessageStatus.FAILED, error_code, now)
    counters.bump(
        day=counters.utc_day(now),
        dims=counters.message_dims(message),
        **counters.outcome_metrics(MessageStatus.FAILED, error_code, rejected=True),
    )


def default_policy_hold():
    """Quiet hours and frequency caps from `messaging.sending_rules`."""
    return policy_hold
