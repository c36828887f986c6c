"""Audiences and campaigns.

A `Campaign` moves through::

    draft --launch--> scheduled --(time comes)--> sending --(all handed off)--> completed
                      scheduled | sending --pause--> paused --resume--> sending
                      draft | scheduled | sending | paused --cancel--> cancelled

Launching fans the audience out into `OutboundMessage` rows in set-based batches (resumable:
`fanout_cursor` is the last contact id written, and a campaign reaches a contact once).
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from consent.models import Program


class Audience(models.Model):
    """A saved set of filters over contacts (see `campaigns.audiences` for the filter keys)."""

    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    filters = models.JSONField(
        default=dict,
        blank=True,
        help_text='e.g. {"tags_any": ["vip"], "state_in": ["TX"], '
        '"consent": {"program": "offers", "method_in": ["web_form"]}}',
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from .audiences import AudienceFilterError, audience_contacts

        try:
            audience_contacts(self.filters)
        except AudienceFilterError as exc:
            raise ValidationError({"filters": str(exc)}) from exc


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SCHEDULED = "scheduled", "Scheduled"
    SENDING = "sending", "Sending"
    PAUSED = "paused", "Paused"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


class ScheduleKind(models.TextChoices):
    NOW = "now", "Now"
    AT = "at", "At a time"
    LOCAL = "local", "At a time in each recipient's local time"


class Campaign(models.Model):
    name = models.CharField(max_length=120)
    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="campaigns")
    audience = models.ForeignKey(Audience, on_delete=models.PROTECT, related_name="campaigns")
    senders = models.ManyToManyField("messaging.Sender", related_name="campaigns")
    status = models.CharField(
        max_length=10, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT, editable=False
    )
    schedule = models.CharField(
        max_length=5, choices=ScheduleKind.choices, default=ScheduleKind.NOW
    )
    send_at = models.DateTimeField(null=True, blank=True, help_text="For “at a time”.")
    local_send_date = models.DateField(null=True, blank=True, help_text="For local time.")
    local_send_time = models.TimeField(null=True, blank=True, help_text="For local time.")
    throttle_mps = models.FloatField(
        null=True, blank=True, help_text="Optional: slower than the senders allow."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", editable=False
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    launched_at = models.DateTimeField(null=True, blank=True, editable=False)
    completed_at = models.DateTimeField(null=True, blank=True, editable=False)
    fanout_cursor = models.BigIntegerField(default=0, editable=False)
    fanout_done = models.BooleanField(default=False, editable=False)
    excluded = models.JSONField(
        default=dict, blank=True, editable=False, help_text="Recipients left out, by reason."
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=CampaignStatus.values), name="campaign_status_valid"
            ),
            models.CheckConstraint(
                condition=~Q(schedule="at") | Q(send_at__isnull=False),
                name="campaign_at_has_time",
            ),
            models.CheckConstraint(
                condition=~Q(schedule="local")
                | Q(local_send_date__isnull=False, local_send_time__isnull=False),
                name="campaign_local_has_date_time",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class CampaignVariant(models.Model):
    """One approved template version a campaign sends, with its share of recipients."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="variants")
    label = models.CharField(max_length=20, default="A")
    template_version = models.ForeignKey(
        "templates.TemplateVersion", on_delete=models.PROTECT, related_name="campaign_variants"
    )
    weight = models.PositiveSmallIntegerField(default=1)

    class Meta:
        ordering = ["campaign", "label"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "label"], name="variant_label_unique"),
            models.CheckConstraint(condition=Q(weight__gt=0), name="variant_weight_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign} · {self.label}"


class CampaignEvent(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=10, choices=CampaignStatus.choices)
    to_status = models.CharField(max_length=10, choices=CampaignStatus.choices)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    at = models.DateTimeField(default=timezone.now)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.campaign}: {self.from_status} → {self.to_status}"
