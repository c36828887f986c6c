"""Tracked links, their clicks, and the conversions partners report.

A `TrackedLink` is one destination as one program, campaign variant or flow sends it; the
per-recipient short link is that link plus the message it went out in, signed into the code
(messaging/links.py), so a campaign of a million people writes no extra rows. Every hit on a
valid short link is a `Click` row, human or bot; a `Conversion` is an order, counted once.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from consent.models import Contact, Program


def _sent_by(to: str, **options) -> models.ForeignKey:
    """An optional reference to what sent the message (a campaign, its variant, a flow):
    protected, and with no database constraint, like the messages themselves."""
    return models.ForeignKey(
        to,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
        **options,
    )


class TrackedLink(models.Model):
    """A destination link as one program (and campaign variant, or flow) sends it.

    `key` is a digest of everything that makes the link distinct, so a send looks its link up
    (or adds it) with one unique-index probe.
    """

    key = models.CharField(max_length=64, unique=True, editable=False)
    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="+")
    destination = models.TextField()
    utm = models.BooleanField(default=False, help_text="UTM parameters are added on redirect.")
    utm_campaign = models.CharField(max_length=120, blank=True)
    utm_content = models.CharField(max_length=40, blank=True)
    campaign = _sent_by("campaigns.Campaign")
    variant = _sent_by("campaigns.CampaignVariant")
    flow = _sent_by("campaigns.Flow")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.destination


class BotReason(models.TextChoices):
    """Why a click is not a person; blank: a human click."""

    USER_AGENT = "user_agent", "Link preview or scanner"
    HEAD = "head", "HEAD request"
    PREFETCH = "prefetch", "Prefetch"
    TOO_SOON = "too_soon", "Seconds after delivery"
    REPEATED = "repeated", "Repeated rapid hits"


class Click(models.Model):
    """One hit on a short link. Written by one INSERT on the redirect path (messaging/links.py):
    the foreign keys carry no database constraint, like the messages they point at."""

    link = models.ForeignKey(
        TrackedLink, on_delete=models.PROTECT, related_name="clicks", db_constraint=False
    )
    message = models.ForeignKey(
        "messaging.OutboundMessage",
        on_delete=models.PROTECT,
        related_name="clicks",
        db_constraint=False,
        db_index=False,
    )
    contact = models.ForeignKey(
        Contact, on_delete=models.PROTECT, related_name="+", db_constraint=False, db_index=False
    )
    campaign = _sent_by("campaigns.Campaign", db_index=False)
    variant = _sent_by("campaigns.CampaignVariant", db_index=False)
    flow = _sent_by("campaigns.Flow", db_index=False)
    clicked_at = models.DateTimeField(default=timezone.now)
    seconds_since_delivery = models.IntegerField(null=True, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=400, blank=True)
    bot_reason = models.CharField(max_length=20, choices=BotReason.choices, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            # Repeated rapid hits: the same link of the same message, a moment ago.
            models.Index(fields=["message", "link", "clicked_at"]),
            # Attribution: a person's latest human click.
            models.Index(
                fields=["contact", "clicked_at"], condition=Q(bot_reason=""), name="click_human"
            ),
        ]

    def __str__(self) -> str:
        return f"click {self.pk} on {self.link_id}"

    @property
    def is_bot(self) -> bool:
        return bool(self.bot_reason)


class Attribution(models.TextChoices):
    CLICK = "click", "Last human click"
    VIEW = "view", "Last delivered message"
    NONE = "none", "Not attributed"


class Conversion(models.Model):
    """An order a partner reported, credited to the click or message that led to it.

    `order_id` is unique: a retried or repeated report of one order counts once.
    """

    order_id = models.CharField(max_length=120, unique=True)
    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="+")
    value = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(default=timezone.now)
    attribution = models.CharField(max_length=10, choices=Attribution.choices)
    click = models.ForeignKey(
        Click, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    message = models.ForeignKey(
        "messaging.OutboundMessage",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
    )
    program = models.ForeignKey(
        Program, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    campaign = _sent_by("campaigns.Campaign")
    variant = _sent_by("campaigns.CampaignVariant")
    flow = _sent_by("campaigns.Flow")

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["campaign", "occurred_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(attribution__in=Attribution.values), name="conversion_attribution"
            ),
            models.CheckConstraint(condition=Q(value__gte=0), name="conversion_value_positive"),
        ]

    def __str__(self) -> str:
        return f"order {self.order_id}"
