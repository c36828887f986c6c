"""Per-sender rate limits shared by every worker, kept in the database.

A token bucket with debt: `acquire` always takes its units at once, atomically, and returns how
long the caller must wait before using them. Concurrent workers therefore line up behind each
other at the sender's rate (segments count as units), instead of polling. The daily segment
cap is a counter per sender and UTC day.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from .models import Sender, SenderDailyUsage, SenderThrottle

#: How far ahead of the rate a bucket may fill up when idle (seconds of sending).
BURST_SECONDS = 1.0


def acquire(sender: Sender, units: int, *, rate: float | None = None) -> float:
    """Take `units` from the sender's bucket; return the seconds to wait before sending them."""
    rate = rate or sender.mps
    capacity = max(rate * BURST_SECONDS, 1.0)
    with transaction.atomic():
        throttle, _ = SenderThrottle.objects.select_for_update().get_or_create(
            sender=sender, defaults={"tokens": capacity}
        )
        now = timezone.now()
        elapsed = max((now - throttle.updated_at).total_seconds(), 0.0)
        tokens = min(capacity, throttle.tokens + elapsed * rate) - units
        SenderThrottle.objects.filter(pk=sender.pk).update(tokens=tokens, updated_at=now)
    return 0.0 if tokens >= 0 else -tokens / rate


def use_daily_segments(sender: Sender, segments: int, *, now: datetime | None = None) -> bool:
    """Count `segments` against today's cap; False (and nothing counted) if they do not fit."""
    if not sender.daily_segment_cap:
        return True
    day = (now or timezone.now()).date()
    with transaction.atomic():
        usage, _ = SenderDailyUsage.objects.select_for_update().get_or_create(
            sender=sender, day=day
        )
        if usage.segments + segments > sender.daily_segment_cap:
            return False
        SenderDailyUsage.objects.filter(pk=usage.pk).update(segments=usage.segments + segments)
    return True


def next_utc_midnight(now: datetime | None = None) -> datetime:
    now = now or timezone.now()
    return (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
