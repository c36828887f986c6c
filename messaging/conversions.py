"""Conversions: an order a partner reports, counted once and credited to what led to it.

Attribution, decided when the conversion is recorded and stored with it:

1. the person's last **human** click in the click window before the order
   (`SMS_CONVERSION_CLICK_WINDOW_DAYS`, default 5 days): `click`;
2. else their last delivered message in the view window (`SMS_CONVERSION_VIEW_WINDOW_HOURS`,
   default 24 hours): `view`;
3. else `none` (still counted, credited to nothing).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction

from consent.models import Contact

from . import counters
from .models import Attribution, Click, Conversion, OutboundMessage

__all__ = ["ConversionError", "conversion_record", "counted_conversion"]


class ConversionError(ValueError):
    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


def counted_conversion(conversion: Conversion) -> None:
    """Count `conversion` and its revenue against the message it is attributed to (its day and
    dimensions), else against its program on the day it happened; in the storing transaction."""
    day, dims = counters.conversion_day_and_dims(conversion)
    counters.bump(
        day=day, dims=dims, conversions=1, revenue_micros=counters.price_micros(conversion.value)
    )


def _attribution(contact: Contact, at: datetime) -> dict:
    click_from = at - timedelta(days=settings.SMS_CONVERSION_CLICK_WINDOW_DAYS)
    click = (
        Click.objects.filter(
            contact=contact, bot_reason="", clicked_at__gte=click_from, clicked_at__lte=at
        )
        .select_related("message")
        .order_by("-clicked_at", "-id")
        .first()
    )
    if click is not None:
        return {
            "attribution": Attribution.CLICK,
            "click": click,
            "message_id": click.message_id,
            "program_id": click.message.program_id,
            "campaign_id": click.campaign_id,
            "variant_id": click.variant_id,
            "flow_id": click.flow_id,
        }
    view_from = at - timedelta(hours=settings.SMS_CONVERSION_VIEW_WINDOW_HOURS)
    message = (
        OutboundMessage.objects.filter(
            contact=contact, delivered_at__gte=view_from, delivered_at__lte=at
        )
        .order_by("-delivered_at", "-id")
        .only("pk", "program_id", "campaign_id", "variant_id")
        .first()
    )
    if message is not None:
        return {
            "attribution": Attribution.VIEW,
            "message_id": message.pk,
            "program_id": message.program_id,
            "campaign_id": message.campaign_id,
            "variant_id": message.variant_id,
            # A message's flow is known from its tracked links only; a view credits the message.
            "flow_id": None,
        }
    return {"attribution": Attribution.NONE}


def conversion_record(
    *,
    contact: Contact,
    order_id: str,
    value: Decimal,
    currency: str,
    occurred_at: datetime,
) -> tuple[Conversion, bool]:
    """Record order `order_id` and its attribution; returns (conversion, created).

    An order already recorded is returned as it is (`created` False): reported twice, it
    still counts once. Refused with nothing written: a blank order id, a negative value or a
    currency that is not three letters (`ConversionError`).
    """
    order_id = (order_id or "").strip()
    if not order_id:
        raise ConversionError("Give the order id: each order counts once.", field="order_id")
    if value < 0:
        raise ConversionError("The value cannot be negative.", field="value")
    currency = (currency or "").strip().upper()
    if len(currency) != 3 or not currency.isalpha():
        raise ConversionError("The currency is a three-letter code, e.g. USD.", field="currency")
    existing = Conversion.objects.filter(order_id=order_id).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            conversion = Conversion.objects.create(
                contact=contact,
                order_id=order_id,
                value=value,
                currency=currency,
                occurred_at=occurred_at,
                **_attribution(contact, occurred_at),
            )
            counted_conversion(conversion)
    except IntegrityError:
        # The same order reported twice at once: the other report counted it.
        return Conversion.objects.get(order_id=order_id), False
    return conversion, True
