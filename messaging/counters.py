"""Daily counters: bumped where things happen, squashed in the background, rebuilt on demand.

Reports read `DailyCount` rows (see `messaging.models.counters`), never the message table.

Calling it
    `bump(day=..., dims=..., **metrics)` adds one insert-only row per dimension and metric, in
    the caller's transaction (so a rolled-back outcome is never counted). `dims` maps a scope
    to an id: `{"program": 3, "campaign": 12, "variant": 40, "template_version": 7,
    "sender": 2, "flow": 5}`; a missing or None id is skipped. `message_dims(message)` gives a
    message's (a flow's messages count under their flow as well).
    Paths that settle many messages at once collect them in a `Tally` and `flush()` it:
    rows of the same (day, scope, key, metric) are summed first, so a chunk of 100 sends
    inserts a few dozen rows, not hundreds.

    Clicks and conversions (link tracking) call, in the transaction that stores the click or
    the conversion, with the message's dims and day (`message_day(message)`)::

        bump(day=message_day(message), dims=message_dims(message), clicks_human=1)
        bump(day=..., dims=..., conversions=1, revenue_micros=value_in_micros)

    and a flow's success (its success event, or a success reply the inbound handler's
    `reply_hooks` hear), on the run's day: `bump(day=..., dims={"flow": flow_id},
    flow_success=1)`.
    `rebuild` reads those from their own tables through `REBUILD_EXTRAS` (register a function
    returning `[(day, dims, metrics), ...]`), so the rebuild agrees with them too.

Metrics (all integers)
    Per message, on the UTC day it was handed off (`sent_at`): `sent`, `segments`,
    `cost_micros` (millionths of `SMS_PRICE_CURRENCY`: the provider's price when known, else
    segments times `SMS_PRICE_PER_SEGMENT` for the sender's kind; when the price arrives later
    the difference is bumped), `delivered`, `undelivered`, `failed`, `expired`,
    `error:<code>` (an undelivered or failed message, by its error code). A message the
    provider refused at hand-off counts `failed` and `rejected` (and its `error:<code>`) on the
    day it was refused. So each message's outcomes land on one day: a day's delivery rate is
    delivered / sent of that day's sends.

    `opt_outs`: a STOP (or a carrier 21610 opt-out) attributed to the last message the person
    was sent by that program in the `SMS_OPT_OUT_ATTRIBUTION_HOURS` before it, on that
    message's dims and day. `replies`: an inbound message other than an opt-out, from a known
    contact to one of our senders, attributed the same way to the last message the person was
    sent by any program within `SMS_REPLY_ATTRIBUTION_HOURS`.

    Flow runs, on the flow (scope `flow`), on the day the run was decided: `runs`,
    `run_queued`, `run_blocked:<reason>`, `run_skipped:<reason>` (`flow_run_metrics`; campaigns
    bumps them and registers their rebuild); `flow_success`, once per run marked succeeded
    (see above; rebuilt from `FlowRun.succeeded_at`).
    Link tracking: `clicks_human`, `clicks_bot`, `conversions`, `revenue_micros`.

Squash
    `squash()` (a django-q2 schedule) folds the unsquashed rows of each key into its one
    squashed row, a batch of keys at a time (RapidPro's squashable counts work this way).

Rebuild
    `rebuild()` (`manage.py counters_rebuild`) deletes every row and recomputes them from the
    messages, consent events and inbound messages under the same rules, plus what the layers
    above register in `REBUILD_EXTRAS` (flow runs, clicks, conversions).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.db.models import (
    Count,
    DateTimeField,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    Subquery,
    Sum,
)
from django.db.models.functions import Abs, TruncDate
from django.utils import timezone

from consent.models import ConsentEvent, ConsentKind, ConsentMethod

from . import sql
from .models import (
    Click,
    Conversion,
    DailyCount,
    InboundMessage,
    MessageEvent,
    MessageStatus,
    OutboundMessage,
)
from .models.outbound import HANDED_OFF

Dims = Mapping[str, int | None]
#: The message columns that are dimensions, by scope.
MESSAGE_DIMS = {
    "program": "program_id",
    "campaign": "campaign_id",
    "variant": "variant_id",
    "template_version": "template_version_id",
    "sender": "sender_id",
    "flow": "flow_id",
}
#: Money is counted in millionths of the currency unit.
MICROS = 1_000_000
#: Opt-outs that count against a message: a keyword (STOP) or the carrier's 21610.
ATTRIBUTED_OPT_OUT_METHODS = (ConsentMethod.KEYWORD, ConsentMethod.CARRIER)
#: Extra sources of counts for `rebuild` (link tracking registers its clicks and conversions):
#: functions returning [(day, dims, {metric: n})].
REBUILD_EXTRAS: list[Callable[[], Iterable[tuple[date, Dims, dict[str, int]]]]] = []


def utc_day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def message_dims(message: OutboundMessage) -> dict[str, int | None]:
    return {scope: getattr(message, column) for scope, column in MESSAGE_DIMS.items()}


def message_day(message: OutboundMessage) -> date:
    """The day a message's outcomes are counted on: when it was handed off (else today)."""
    return utc_day(message.sent_at or timezone.now())


def conversion_day_and_dims(conversion: Conversion) -> tuple[date, dict[str, int | None]]:
    """Where a conversion counts: its attributed message's day and dimensions, else its
    program's on the day it happened."""
    message = conversion.message
    if message is not None:
        return message_day(message), message_dims(message)
    return utc_day(conversion.occurred_at), {"program": conversion.program_id}


def price_per_segment_micros(sender_kind: str | None) -> int:
    rate = settings.SMS_PRICE_PER_SEGMENT.get(sender_kind or "", 0)
    return int(Decimal(str(rate)) * MICROS)


def price_micros(price: Decimal | str | None) -> int | None:
    """The provider's price (Twilio's is negative: money out) in micros; None when unknown."""
    if price is None or price == "":
        return None
    return int(abs(Decimal(str(price))) * MICROS)


def cost_micros(*, price, segments: int, sender_kind: str | None) -> int:
    known = price_micros(price)
    return known if known is not None else segments * price_per_segment_micros(sender_kind)


class Tally:
    """Counts collected in memory, summed per row and written by `flush()` in one insert."""

    def __init__(self) -> None:
        self.counts: dict[tuple[date, str, int, str], int] = defaultdict(int)

    def add(self, *, day: date, dims: Dims, **metrics: int) -> None:
        for scope, key in dims.items():
            if key is None:
                continue
            for metric, n in metrics.items():
                if n:
                    self.counts[(day, scope, key, metric)] += n

    def flush(self) -> int:
        """Insert the rows (in the caller's transaction); returns how many."""
        rows = [
            DailyCount(day=day, scope=scope, key=key, metric=metric, count=n)
            for (day, scope, key, metric), n in self.counts.items()
            if n
        ]
        DailyCount.objects.bulk_create(rows)
        self.counts.clear()
        return len(rows)


def bump(*, day: date, dims: Dims, **metrics: int) -> None:
    """Add `metrics` to each of `dims` on `day` (module docstring), in the caller's transaction."""
    tally = Tally()
    tally.add(day=day, dims=dims, **metrics)
    tally.flush()


# --- What each event counts ----------------------------------------------------------------


def sent_metrics(message: OutboundMessage, price=None) -> dict[str, int]:
    sender_kind = message.sender.kind if message.sender_id else None
    return {
        "sent": 1,
        "segments": message.segments,
        "cost_micros": cost_micros(price=price, segments=message.segments, sender_kind=sender_kind),
    }


def outcome_metrics(status: str, error_code: int | None, *, rejected: bool = False) -> dict:
    """What a message reaching a final status counts."""
    metrics = {str(status): 1}
    if status in (MessageStatus.FAILED, MessageStatus.UNDELIVERED) and error_code:
        metrics[f"error:{error_code}"] = 1
    if rejected:
        metrics["rejected"] = 1
    return metrics


def price_known(message: OutboundMessage, price) -> None:
    """The provider's price arrived after the send: count the difference to the estimate."""
    sender_kind = message.sender.kind if message.sender_id else None
    estimate = message.segments * price_per_segment_micros(sender_kind)
    known = price_micros(price)
    if known is not None and known != estimate:
        bump(day=message_day(message), dims=message_dims(message), cost_micros=known - estimate)


def last_message_before(
    *, contact_id: int, at: datetime, hours: int, program_id: int | None = None
) -> OutboundMessage | None:
    """The last message handed off to the person within `hours` before `at` (in the program)."""
    messages = OutboundMessage.objects.filter(
        contact_id=contact_id, sent_at__lte=at, sent_at__gt=at - timedelta(hours=hours)
    )
    if program_id is not None:
        messages = messages.filter(program_id=program_id)
    return messages.order_by("-sent_at", "-id").first()


def opt_outs_attribute(events: Iterable[ConsentEvent]) -> int:
    """Count each opt-out against the message that preceded it (module docstring): one
    statement per person and moment, however many programs the opt-out covers. Returns the
    messages counted (on PostgreSQL, the counter rows written)."""
    programs_by_moment: dict[tuple[int, datetime], set[int]] = defaultdict(set)
    for event in events:
        if event.kind == ConsentKind.OPT_OUT and event.method in ATTRIBUTED_OPT_OUT_METHODS:
            programs_by_moment[(event.contact_id, event.occurred_at)].add(event.program_id)
    tally = Tally()
    counted = 0
    window = timedelta(hours=settings.SMS_OPT_OUT_ATTRIBUTION_HOURS)
    if connection.vendor == "postgresql":  # on every STOP: one statement, no ORM
        scopes = tuple(
            (scope, column.removesuffix("_id")) for scope, column in MESSAGE_DIMS.items()
        )
        for (contact_id, at), programs in programs_by_moment.items():
            statement = sql.opt_out_attribution_sql(len(programs), scopes)
            params = ["opt_outs", contact_id, *sorted(programs), at, at - window]
            with connection.cursor() as cursor:
                cursor.execute(statement, [*params, *(scope for scope, _ in scopes)])
                counted += cursor.rowcount
        return counted  # counter rows written
    for (contact_id, at), programs in programs_by_moment.items():
        recent = (
            OutboundMessage.objects.filter(
                contact_id=contact_id,
                program_id__in=programs,
                sent_at__lte=at,
                sent_at__gt=at - window,
            )
            .order_by("-sent_at", "-id")
            .only("sent_at", *MESSAGE_DIMS.values())
        )
        for message in recent:
            if message.program_id in programs:  # the last one of each program
                programs.discard(message.program_id)
                tally.add(day=message_day(message), dims=message_dims(message), opt_outs=1)
                counted += 1
            if not programs:
                break
    tally.flush()
    return counted


def reply_attribute(inbound: InboundMessage) -> bool:
    """Count an inbound message as a reply to the message that preceded it (docstring)."""
    if not counts_as_reply(inbound.contact_id, inbound.sender_id, inbound.intent):
        return False
    message = last_message_before(
        contact_id=inbound.contact_id,
        at=inbound.received_at,
        hours=settings.SMS_REPLY_ATTRIBUTION_HOURS,
    )
    if message is None:
        return False
    bump(day=message_day(message), dims=message_dims(message), replies=1)
    return True


def counts_as_reply(contact_id, sender_id, intent: str) -> bool:
    return bool(contact_id and sender_id) and intent != InboundMessage.Intent.OPT_OUT


def flow_run_metrics(outcome: str, reason: str) -> dict[str, int]:
    metrics = {"runs": 1}
    if outcome == "queued":
        metrics["run_queued"] = 1
    else:
        metrics[f"run_{outcome}:{reason or 'unknown'}"] = 1
    return metrics


# --- Squash --------------------------------------------------------------------------------


def squash(*, limit: int = 5000) -> int:
    """Fold the unsquashed rows of up to `limit` keys into their squashed row; returns keys."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(sql.counters_squash_sql(), [limit])
                return cursor.rowcount
        keys = list(
            DailyCount.objects.filter(is_squashed=False)
            .values_list("day", "scope", "key", "metric")
            .distinct()[:limit]
        )
        for day, scope, key, metric in keys:
            rows = DailyCount.objects.select_for_update().filter(
                day=day, scope=scope, key=key, metric=metric
            )
            total = sum(rows.values_list("count", flat=True))
            rows.delete()
            DailyCount.objects.create(
                day=day, scope=scope, key=key, metric=metric, count=total, is_squashed=True
            )
        return len(keys)


def squash_all() -> int:
    done = total = squash()
    while done:
        done = squash()
        total += done
    return total


# --- Rebuild -------------------------------------------------------------------------------


def rebuild() -> int:
    """Replace every counter by what the raw tables say; returns the rows written."""
    tally = Tally()
    _rebuild_messages(tally)
    _rebuild_opt_outs(tally)
    _rebuild_replies(tally)
    _rebuild_clicks(tally)
    _rebuild_conversions(tally)
    for extra in REBUILD_EXTRAS:
        for day, dims, metrics in extra():
            tally.add(day=day, dims=dims, **metrics)
    with transaction.atomic():
        DailyCount.objects.all().delete()
        rows = [
            DailyCount(day=day, scope=scope, key=key, metric=metric, count=n, is_squashed=True)
            for (day, scope, key, metric), n in tally.counts.items()
            if n
        ]
        DailyCount.objects.bulk_create(rows, batch_size=5000)
    return len(rows)


def _rebuild_messages(tally: Tally) -> None:
    dim_columns = list(MESSAGE_DIMS.values())
    handed_off = (
        OutboundMessage.objects.filter(sent_at__isnull=False, status__in=HANDED_OFF)
        .annotate(day=TruncDate("sent_at", tzinfo=UTC))
        .values("day", *dim_columns, "sender__kind", "status", "error_code")
        .annotate(
            n=Count("id"),
            segments_n=Sum("segments"),
            priced=Sum(Abs("price")),
            unpriced_segments=Sum("segments", filter=Q(price__isnull=True)),
        )
        .order_by()
    )
    for row in handed_off:
        dims = {scope: row[column] for scope, column in MESSAGE_DIMS.items()}
        cost = int((row["priced"] or 0) * MICROS) + (
            row["unpriced_segments"] or 0
        ) * price_per_segment_micros(row["sender__kind"])
        metrics = {"sent": row["n"], "segments": row["segments_n"], "cost_micros": cost}
        if row["status"] != MessageStatus.SENT:
            for metric in outcome_metrics(row["status"], row["error_code"]):
                metrics[metric] = metrics.get(metric, 0) + row["n"]
        tally.add(day=row["day"], dims=dims, **metrics)
    failed_at = (
        MessageEvent.objects.filter(message=OuterRef("pk"), kind=MessageEvent.Kind.FAILED)
        .order_by("-at")
        .values("at")[:1]
    )
    rejected = (
        OutboundMessage.objects.filter(status=MessageStatus.FAILED, sent_at__isnull=True)
        .annotate(failed_at=Subquery(failed_at))
        .values_list("failed_at", "error_code", *dim_columns)
    )
    for failed, error_code, *keys in rejected.iterator():
        dims = dict(zip(MESSAGE_DIMS, keys, strict=True))
        day = utc_day(failed) if failed else utc_day(timezone.now())
        tally.add(
            day=day, dims=dims, **outcome_metrics(MessageStatus.FAILED, error_code, rejected=True)
        )


def _attributed(queryset, at_field: str, hours: int, by_program: bool) -> Iterable[int]:
    """Ids of the message each row is attributed to (the last before it within `hours`)."""
    since = ExpressionWrapper(F(at_field) - timedelta(hours=hours), output_field=DateTimeField())
    last = OutboundMessage.objects.filter(
        contact_id=OuterRef("contact_id"),
        sent_at__lte=OuterRef(at_field),
        sent_at__gt=OuterRef("since"),
    )
    if by_program:
        last = last.filter(program_id=OuterRef("program_id"))
    last = last.order_by("-sent_at", "-id").values("id")[:1]
    return (
        queryset.annotate(since=since, message_id=Subquery(last))
        .filter(message_id__isnull=False)
        .values_list("message_id", flat=True)
    )


def _add_per_message(tally: Tally, message_ids: list[int], metric: str) -> None:
    """Add `metric` once per occurrence of each message id, on that message's day and dims."""
    times: dict[int, int] = defaultdict(int)
    for pk in message_ids:
        times[pk] += 1
    ids = list(times)
    columns = ["pk", "sent_at", *MESSAGE_DIMS.values()]
    for start in range(0, len(ids), 5000):
        chunk = OutboundMessage.objects.filter(pk__in=ids[start : start + 5000])
        for pk, sent_at, *keys in chunk.values_list(*columns):
            tally.add(
                day=utc_day(sent_at or timezone.now()),  # as `message_day`
                dims=dict(zip(MESSAGE_DIMS, keys, strict=True)),
                **{metric: times[pk]},
            )


def _rebuild_opt_outs(tally: Tally) -> None:
    events = ConsentEvent.objects.filter(
        kind=ConsentKind.OPT_OUT, method__in=ATTRIBUTED_OPT_OUT_METHODS
    )
    ids = list(
        _attributed(events, "occurred_at", settings.SMS_OPT_OUT_ATTRIBUTION_HOURS, by_program=True)
    )
    _add_per_message(tally, ids, "opt_outs")


def _rebuild_replies(tally: Tally) -> None:
    inbound = InboundMessage.objects.filter(contact__isnull=False, sender__isnull=False).exclude(
        intent=InboundMessage.Intent.OPT_OUT
    )
    ids = list(
        _attributed(inbound, "received_at", settings.SMS_REPLY_ATTRIBUTION_HOURS, by_program=False)
    )
    _add_per_message(tally, ids, "replies")


def _rebuild_clicks(tally: Tally) -> None:
    clicks = Click.objects.values_list("message_id", "bot_reason")
    human, bots = [], []
    for message_id, bot_reason in clicks.iterator():
        (bots if bot_reason else human).append(message_id)
    _add_per_message(tally, human, "clicks_human")
    _add_per_message(tally, bots, "clicks_bot")


def _rebuild_conversions(tally: Tally) -> None:
    for conversion in Conversion.objects.select_related("message").iterator(chunk_size=2000):
        day, dims = conversion_day_and_dims(conversion)
        tally.add(day=day, dims=dims, conversions=1, revenue_micros=price_micros(conversion.value))


def totals(
    *, scope: str, keys: Iterable[int] | None = None, since: date, until: date
) -> dict[tuple[date, int, str], int]:
    """{(day, key, metric): n} for the scope's keys (all when None) from `since` to `until`."""
    rows = DailyCount.objects.filter(scope=scope, day__gte=since, day__lte=until)
    if keys is not None:
        rows = rows.filter(key__in=list(keys))
    return {
        (day, key, metric): n
        for day, key, metric, n in rows.values_list("day", "key", "metric")
        .annotate(n=Sum("count"))
        .order_by()
    }


__all__ = [
    "REBUILD_EXTRAS",
    "Tally",
    "bump",
    "message_day",
    "message_dims",
    "opt_outs_attribute",
    "price_known",
    "rebuild",
    "reply_attribute",
    "squash",
    "totals",
]
