"""Per-sender rate limits shared by every worker, kept in the database.

A token bucket with debt: `acquire` always takes its units at once, atomically, and returns how
long the caller must wait before using them. Concurrent workers therefore line up behind each
other at the sender's rate (segments count as units), instead of polling. The daily segment
cap is a counter per sender and UTC day.

Dispatch works in chunks (`chunks`): one acquisition and one daily-cap reservation for up to
`CHUNK_MESSAGES` messages of a sender, then each message goes at the moment its own tokens are
paid for (`pace`), which keeps the rate exactly as if each had taken its own. An acquisition
may be bounded (`within`): it takes the tokens only of the messages the bucket pays for in
time, so a batch never runs the debt up for messages it will not wait for.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from datetime import date, datetime, timedelta
from typing import NamedTuple

from django.db import transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from .models import OutboundMessage, Sender, SenderDailyUsage, SenderThrottle

#: How far ahead of the rate a bucket may fill up when idle (seconds of sending).
BURST_SECONDS = 1.0
#: Messages of one sender per acquisition (and per `sent` settle in dispatch): per message, the
#: bucket's locked read-and-write and a transaction of its own cost more than the hand-off
#: itself (bench/bench_dispatch.py).
CHUNK_MESSAGES = 50
#: A chunk holds at most this many seconds of its sender's rate, so that workers sharing a slow
#: sender interleave finely and no message waits long in a chunk.
CHUNK_SECONDS = 0.1


class Grant(NamedTuple):
    """What `acquire` took: the tokens of the first `count` messages, the last of which may go
    in `wait` seconds; the first message left out would have had to wait `next_wait` seconds."""

    count: int
    wait: float
    next_wait: float


def acquire(
    sender: Sender,
    segments: Sequence[int],
    *,
    rate: float | None = None,
    within: float = math.inf,
) -> Grant:
    """Take the tokens of each message in turn (its `segments` are its units) while the bucket
    pays for them within `within` seconds; nothing is taken for the first one it would pay for
    later, nor for those after it (other workers would wait behind a debt nobody sends on)."""
    rate = rate or sender.mps
    capacity = max(rate * BURST_SECONDS, 1.0)
    count, next_wait = 0, 0.0
    with transaction.atomic():
        throttle, _ = SenderThrottle.objects.select_for_update().get_or_create(
            sender=sender, defaults={"tokens": capacity}
        )
        now = timezone.now()
        elapsed = max((now - throttle.updated_at).total_seconds(), 0.0)
        tokens = min(capacity, throttle.tokens + elapsed * rate)
        for units in segments:
            wait = max(units - tokens, 0.0) / rate
            if wait > within:
                next_wait = wait
                break
            tokens -= units
            count += 1
        SenderThrottle.objects.filter(pk=sender.pk).update(tokens=tokens, updated_at=now)
    return Grant(count, max(-tokens, 0.0) / rate, next_wait)


def reserve_daily_segments(
    sender: Sender, segments: list[int], *, now: datetime | None = None
) -> list[bool]:
    """Count each message's `segments` against today's cap, in order, in one transaction.

    Returns, per message, whether it fits; nothing is counted for one that does not (a later,
    shorter message may still fit).
    """
    cap = sender.daily_segment_cap
    if not cap:
        return [True] * len(segments)
    day = (now or timezone.now()).date()
    with transaction.atomic():
        usage, _ = SenderDailyUsage.objects.select_for_update().get_or_create(
            sender=sender, day=day
        )
        used, fits = usage.segments, []
        for count in segments:
            fits.append(used + count <= cap)
            used += count if fits[-1] else 0
        if used != usage.segments:
            SenderDailyUsage.objects.filter(pk=usage.pk).update(segments=used)
    return fits


def use_daily_segments(sender: Sender, segments: int, *, now: datetime | None = None) -> bool:
    """Count `segments` against today's cap; False (and nothing counted) if they do not fit."""
    return reserve_daily_segments(sender, [segments], now=now)[0]


def return_daily_segments(sender: Sender, segments: int, *, day: date) -> None:
    """Give back segments counted on `day` for messages that were not handed over after all."""
    SenderDailyUsage.objects.filter(sender=sender, day=day).update(
        segments=Greatest(F("segments") - segments, 0)
    )


def message_rate(message: OutboundMessage) -> float:
    """Messages per second for this message: its sender's, or its campaign's if lower."""
    rate = message.campaign.throttle_mps if message.campaign_id else None
    return min(filter(None, [rate, message.sender.mps]))


def chunks(
    messages: Sequence[OutboundMessage],
) -> Iterator[tuple[float, list[OutboundMessage]]]:
    """(rate, messages) of one sender and rate at a time, in their order within each."""
    groups: dict[tuple[int, float], list[OutboundMessage]] = {}
    for message in messages:
        groups.setdefault((message.sender_id, message_rate(message)), []).append(message)
    for (_, rate), group in groups.items():
        size = max(1, min(CHUNK_MESSAGES, int(rate * CHUNK_SECONDS)))
        for start in range(0, len(group), size):
            yield rate, group[start : start + size]


def pace(chunk: Sequence[OutboundMessage], wait: float, rate: float) -> list[float]:
    """Seconds after `acquire` returned `wait` for the whole chunk at which each message may go.

    The bucket's debt is paid back at `rate`: a message's own tokens are paid for as many
    seconds before the chunk's last ones as the segments after it take.
    """
    left = sum(message.segments for message in chunk)
    offsets = []
    for message in chunk:
        left -= message.segments
        offsets.append(max(wait - left / rate, 0.0))
    return offsets


def next_utc_midnight(now: datetime | None = None) -> datetime:
    now = now or timezone.now()
    return (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
