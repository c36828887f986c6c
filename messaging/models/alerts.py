"""Operator alerts: something staff must look at, recorded once and counted while it lasts."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class OperatorAlert(models.Model):
    """One condition staff should act on, deduplicated by (`kind`, `subject`).

    Lifecycle::

        open --acknowledge--> acknowledged --seen again--> open

    Raising an alert that exists counts it and moves `last_seen` (`messaging.alerts.alert_raise`);
    an acknowledged one that happens again reopens, so a fixed cause stays quiet and a
    recurring one comes back. Rows are never deleted: they are the record of what was seen.
    """

    class Kind(models.TextChoices):
        UNCONFIGURED_NUMBER = "unconfigured_number", "Traffic to a number with no sender"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"

    kind = models.CharField(max_length=40, choices=Kind.choices)
    subject = models.CharField(
        max_length=200, help_text="What the alert is about (a phone number, an object)."
    )
    detail = models.TextField(blank=True, help_text="The latest occurrence, in words.")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)
    count = models.PositiveIntegerField(default=1, help_text="Occurrences seen.")
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-last_seen", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "subject"], name="operator_alert_once"),
            models.CheckConstraint(
                condition=Q(status="open") | Q(acknowledged_at__isnull=False),
                name="operator_alert_acknowledged_has_time",
            ),
        ]
        indexes = [models.Index(fields=["status", "-last_seen"], name="operator_alert_open")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.subject}"

    def acknowledge(self, *, by) -> bool:
        """open -> acknowledged; False if it was not open (someone else got there first)."""
        now = timezone.now()
        done = OperatorAlert.objects.filter(pk=self.pk, status=self.Status.OPEN).update(
            status=self.Status.ACKNOWLEDGED, acknowledged_at=now, acknowledged_by=by
        )
        if done:
            self.status, self.acknowledged_at, self.acknowledged_by = (
                self.Status.ACKNOWLEDGED,
                now,
                by,
            )
        return bool(done)
