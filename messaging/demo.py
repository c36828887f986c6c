"""Demo link activity: clicks (human and bot) and conversions on a sent campaign, for `make run`.

Called by the demo seeding command with a campaign whose messages were delivered; it reads the
short links from their bodies, so the clicks point at links that were really sent.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal

from .conversions import conversion_record
from .links import SEPARATOR, parse_code
from .models import BotReason, Click, MessageStatus, OutboundMessage

PHONES = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/126.0 Mobile Safari/537.36",
]
PREVIEWS = [
    ("facebookexternalhit/1.1 Facebot Twitterbot/1.0", BotReason.USER_AGENT),
    ("Mozilla/5.0 (compatible; Google-PageRenderer)", BotReason.USER_AGENT),
    (PHONES[0], BotReason.TOO_SOON),
]


def _link_id(body: str) -> int | None:
    for word in body.split():
        if "/" in word and SEPARATOR in word:
            ids = parse_code(word.rsplit("/", 1)[1])
            if ids is not None:
                return ids[1]
    return None


def demo_link_activity(*, campaign, rng: random.Random, now: datetime) -> tuple[int, int]:
    """Clicks and conversions on `campaign`'s delivered messages; returns (clicks, conversions).

    About a third of the people tap (a few twice), a link preview fetches most links within a
    second of delivery, and one in four who tapped orders within a day or two.
    """
    messages = list(
        OutboundMessage.objects.filter(
            campaign=campaign, status=MessageStatus.DELIVERED, delivered_at__isnull=False
        ).select_related("contact")
    )
    clicks: list[Click] = []
    buyers = []
    tapped = 0
    for message in messages:
        link_id = _link_id(message.body)
        if link_id is None:
            continue
        base = {
            "link_id": link_id,
            "message": message,
            "contact_id": message.contact_id,
            "campaign_id": message.campaign_id,
            "variant_id": message.variant_id,
            "ip": f"198.51.100.{rng.randint(1, 254)}",
        }
        if rng.random() < 0.6:
            agent, reason = rng.choice(PREVIEWS)
            at = message.delivered_at + timedelta(seconds=1)
            clicks.append(Click(**base, clicked_at=at, user_agent=agent, bot_reason=reason))
        if rng.random() < 0.35:
            delay = timedelta(minutes=rng.randint(2, 600))
            for tap in range(1 if rng.random() < 0.8 else 2):
                at = min(message.delivered_at + delay + timedelta(hours=tap * 3), now)
                clicks.append(Click(**base, clicked_at=at, user_agent=rng.choice(PHONES)))
            tapped += 1
            if tapped % 4 == 1:  # one in four who tapped orders, the first included
                buyers.append((message, message.delivered_at + delay + timedelta(hours=5)))
    for click in clicks:
        delivered = click.message.delivered_at
        click.seconds_since_delivery = int((click.clicked_at - delivered).total_seconds())
    Click.objects.bulk_create(clicks)
    for n, (message, at) in enumerate(buyers):
        conversion_record(
            contact=message.contact,
            order_id=f"DEMO-{campaign.pk}-{n + 1:04d}",
            value=Decimal(rng.choice(["89.00", "149.00", "219.50", "39.99"])),
            currency="USD",
            occurred_at=min(at, now),
        )
    return len(clicks), len(buyers)
