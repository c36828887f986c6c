"""Audiences and campaigns.

A `Campaign` moves through::

    draft --launch--> scheduled --(time comes)--> sending --(all handed off)--> completed
                      scheduled | sending --pause--> paused --resume--> sending
                      draft | scheduled | sending | paused --cancel--> cancelled

Launching fans the audience out into `OutboundMessage` rows in set-based batches (resumable:
`fanout_cursor` is the last contact id written, and a campaign reaches a contact once).
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from consent.models import Program

from .audiences import AudienceFilterError, audience_contacts
from .flow_rules import EVENT_TYPE_PATTERN, flow_validate


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
    link_tracking = models.BooleanField(
        null=True,
        blank=True,
        help_text="Track links in this campaign: yes, no, or as its program says (empty).",
    )
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

    def clean(self) -> None:
        """A variant sends an approved version of its campaign's own program."""
        try:
            campaign = self.campaign
            version = self.template_version
        except ObjectDoesNotExist:
            return
        if campaign.program_id and version.template.program_id != campaign.program_id:
            raise ValidationError(
                {"template_version": f"{version} belongs to another program than the campaign."}
            )


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


class Flow(models.Model):
    """An automation: when an event of type `trigger` arrives and its data meets `conditions`,
    send the template's approved version to the person, at the event's time (or at the time
    named by `anchor` in the event's data, e.g. `appointment_at`) plus `offset`.

    Sends go through `messaging.services.message_queue`: the consent gate, quiet hours and caps
    apply exactly as to any other message. `conditions` is a list of
    `{"field": "data.x" | "type", "op": "eq|ne|in|exists|gt|gte|lt|lte|contains", "value": ...}`,
    all of which must hold.
    """

    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    trigger = models.CharField(
        max_length=64,
        validators=[RegexValidator(EVENT_TYPE_PATTERN, "An event type such as lead.created.")],
        help_text="Event type, e.g. lead.created, appointment.booked, order.delivered.",
    )
    conditions = models.JSONField(default=list, blank=True)
    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="flows")
    template = models.ForeignKey(
        "templates.MessageTemplate",
        on_delete=models.PROTECT,
        related_name="flows",
        help_text="Its approved version at the time of the send is what goes out.",
    )
    anchor = models.CharField(
        max_length=64,
        blank=True,
        help_text="A time in the event's data to count from (e.g. appointment_at); "
        "blank: when the event occurred.",
    )
    offset = models.DurationField(
        default=timedelta(0),
        help_text="Added to the anchor; negative means before it (-1 day: a day before).",
    )
    max_lateness = models.DurationField(
        default=timedelta(hours=1),
        help_text="Skip the send if its time passed longer ago than this.",
    )
    success_event = models.CharField(
        max_length=64,
        blank=True,
        validators=[RegexValidator(EVENT_TYPE_PATTERN, "An event type such as lead.created.")],
        help_text="The event that means the flow worked for a person (e.g. "
        "appointment.confirmed); its success rate counts runs followed by it.",
    )
    success_replies = models.JSONField(
        default=list,
        blank=True,
        help_text='Replies that mean the flow worked, e.g. ["C", "YES"] (whole reply, any case).',
    )
    success_window = models.DurationField(
        default=timedelta(days=7),
        help_text="How long after its message a success event or reply still counts.",
    )
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["trigger", "active"])]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """Every rule a flow must meet (campaigns.flow_rules.flow_problems), named per field."""
        flow_validate(self)


class FlowEvent(models.Model):
    """Something that happened to a person, reported by a partner (or raised by us)."""

    type = models.CharField(max_length=64, validators=[RegexValidator(EVENT_TYPE_PATTERN)])
    contact = models.ForeignKey(
        "consent.Contact", on_delete=models.PROTECT, related_name="flow_events"
    )
    occurred_at = models.DateTimeField()
    data = models.JSONField(default=dict, blank=True)
    client = models.ForeignKey(
        "messaging.ApiClient",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["type", "received_at"]),
            models.Index(fields=["contact", "received_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.type} #{self.pk}"


class FlowRunOutcome(models.TextChoices):
    QUEUED = "queued", "Queued"
    BLOCKED = "blocked", "Blocked"
    SKIPPED = "skipped", "Skipped"


class FlowRun(models.Model):
    """One flow firing for one person: what was decided and the message it made (if any)."""

    flow = models.ForeignKey(Flow, on_delete=models.PROTECT, related_name="runs")
    event = models.ForeignKey(
        FlowEvent, on_delete=models.PROTECT, null=True, blank=True, related_name="runs"
    )
    contact = models.ForeignKey("consent.Contact", on_delete=models.PROTECT, related_name="+")
    fire_at = models.DateTimeField()
    outcome = models.CharField(max_length=10, choices=FlowRunOutcome.choices)
    reason = models.CharField(max_length=60, blank=True)
    template_version = models.ForeignKey(
        "templates.TemplateVersion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    message = models.ForeignKey(
        "messaging.OutboundMessage",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        db_constraint=False,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    succeeded_at = models.DateTimeField(
        null=True, blank=True, help_text="When the flow's success event or reply followed."
    )

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["flow", "created_at"]),
            models.Index(fields=["contact", "flow", "created_at"]),
        ]
        constraints = [
            # An event fires each flow once, however often it is retried.
            models.UniqueConstraint(
                fields=["flow", "event"],
                condition=Q(event__isnull=False),
                name="flow_run_once_per_event",
            ),
            models.CheckConstraint(
                condition=Q(outcome__in=FlowRunOutcome.values), name="flow_run_outcome_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.flow} → {self.contact_id} ({self.outcome})"


class EvidencePack(models.Model):
    """A consent evidence pack was made for a number (`campaigns.evidence`): who, when, which
    number, and the SHA-256 of its manifest (which holds every other file's hash). Append-only.
    """

    phone = models.CharField(max_length=16, db_index=True)
    contact = models.ForeignKey(
        "consent.Contact", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    made_at = models.DateTimeField(default=timezone.now)
    made_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    made_by_label = models.CharField(
        max_length=200, blank=True, help_text="Command, API client or page that asked for it."
    )
    files = models.PositiveIntegerField(default=0)
    manifest_sha256 = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-made_at", "-id"]

    def __str__(self) -> str:
        return f"Evidence pack for {self.phone} ({self.made_at:%Y-%m-%d %H:%M})"


# Registrations and program reviews live in their own package; Django finds models here.
from .registrations.models import (  # noqa: E402
    Brand,
    BrandEvent,
    ProgramReview,
    Registration,
    RegistrationEvent,
    RegistrationSnapshot,
    ReviewFinding,
)

__all__ = [
    "Audience",
    "Brand",
    "BrandEvent",
    "Campaign",
    "CampaignEvent",
    "CampaignVariant",
    "EvidencePack",
    "Flow",
    "FlowEvent",
    "FlowRun",
    "ProgramReview",
    "Registration",
    "RegistrationEvent",
    "RegistrationSnapshot",
    "ReviewFinding",
]


class IncidentKind(models.TextChoices):
    OPT_OUT_RATE = "opt_out_rate", "Opt-out rate"
    FILTERED_SHARE = "filtered_share", "Carrier filtering (30007) share"
    FAILURE_RATE = "failure_rate", "Failure rate"


class IncidentStatus(models.TextChoices):
    OPEN = "open", "Open"
    RESOLVED = "resolved", "Resolved"


class Incident(models.Model):
    """A campaign's (or a sender's) outcomes passed a threshold: opened by the incident check.

    Lifecycle: ``open --resolve(by, why)--> resolved``. A campaign's incident pauses it in the
    transaction that opens it; resolving it resumes the campaign (a person decides, and says
    why). A sender's incident pauses nothing. `evidence` holds what the check saw: the counts,
    the window, the threshold and a few example messages or opt-outs.
    """

    kind = models.CharField(max_length=16, choices=IncidentKind.choices)
    status = models.CharField(
        max_length=10, choices=IncidentStatus.choices, default=IncidentStatus.OPEN, editable=False
    )
    campaign = models.ForeignKey(
        Campaign, on_delete=models.PROTECT, null=True, blank=True, related_name="incidents"
    )
    sender = models.ForeignKey(
        "messaging.Sender",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="incidents",
    )
    rate = models.FloatField(help_text="The rate the check measured (0-1).")
    threshold = models.FloatField(help_text="The threshold it passed (0-1).")
    evidence = models.JSONField(default=dict)
    opened_at = models.DateTimeField(default=timezone.now, editable=False)
    resolved_at = models.DateTimeField(null=True, blank=True, editable=False)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
    )
    resolution_note = models.TextField(blank=True, editable=False)

    class Meta:
        ordering = ["-opened_at", "-id"]
        indexes = [models.Index(fields=["status", "opened_at"], name="incident_status_opened")]
        constraints = [
            models.CheckConstraint(
                condition=Q(campaign__isnull=False) | Q(sender__isnull=False),
                name="incident_has_campaign_or_sender",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=IncidentKind.values), name="incident_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(status__in=IncidentStatus.values), name="incident_status_valid"
            ),
            # The check runs every minute: one open incident per campaign, per sender and kind.
            models.UniqueConstraint(
                fields=["campaign"],
                condition=Q(status="open", campaign__isnull=False),
                name="incident_one_open_per_campaign",
            ),
            models.UniqueConstraint(
                fields=["sender", "kind"],
                condition=Q(status="open", campaign__isnull=True),
                name="incident_one_open_per_sender_kind",
            ),
            models.CheckConstraint(
                condition=Q(status="open") | ~Q(resolution_note=""),
                name="incident_resolved_says_why",
            ),
        ]

    def __str__(self) -> str:
        about = self.campaign or self.sender
        return f"{self.get_kind_display()} on {about} ({self.get_status_display().lower()})"

    @property
    def summary(self) -> str:
        return f"{self.get_kind_display()} {self.rate:.1%} (threshold {self.threshold:.1%})"
