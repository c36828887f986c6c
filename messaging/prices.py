"""The provider's price of each message, stored once the provider knows it.

Twilio fills in a message's `price` some time after sending, and its status callbacks do not
carry it: `prices_fetch` asks for it. Every few minutes it takes the handed-off messages sent
between `SMS_PRICE_FETCH_AFTER_MINUTES` and `GIVE_UP_AFTER` ago that have no price yet (a
partial index holds exactly those), fetches each from the provider, and stores the price and
its currency with a guarded update. A backend that has no prices (console, locmem) answers
None and nothing is asked again after `GIVE_UP_AFTER`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from . import counters
from .models import OutboundMessage
from .providers import ProviderError, get_backend

#: Twilio prices a message within hours; a message still without one after this is left be.
GIVE_UP_AFTER = timedelta(hours=48)


def prices_fetch(*, backend=None, now: datetime | None = None, limit: int = 200) -> dict:
    """Fetch and store the price of up to `limit` messages; returns counts."""
    backend = backend or get_backend()
    now = now or timezone.now()
    after = timedelta(minutes=settings.SMS_PRICE_FETCH_AFTER_MINUTES)
    due = (
        OutboundMessage.objects.filter(
            price__isnull=True,
            provider_sid__isnull=False,
            sent_at__gte=now - GIVE_UP_AFTER,
            sent_at__lte=now - after,
        )
        .select_related("sender")
        .order_by("sent_at")[:limit]
    )
    outcome = {"priced": 0, "unpriced": 0, "errors": 0}
    for message in due:
        try:
            price = backend.fetch_price(message.provider_sid)
        except (ProviderError, NotImplementedError):
            outcome["errors"] += 1
            continue
        if price is None:
            outcome["unpriced"] += 1
            continue
        amount, unit = price
        with transaction.atomic():
            stored = OutboundMessage.objects.filter(pk=message.pk, price__isnull=True).update(
                price=amount, price_unit=unit[:3]
            )
            if stored:
                counters.price_known(message, amount)  # the cost counted so far was an estimate
        outcome["priced"] += stored
    return outcome


__all__ = ["GIVE_UP_AFTER", "prices_fetch"]
