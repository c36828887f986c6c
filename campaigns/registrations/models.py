"""Registration records: who the carriers think we are, and what we told them we send.

A `Brand` is the business as registered with The Campaign Registry (through Twilio)::

    draft --submit--> pending --approve--> approved
                              --fail----> failed      approved --suspend--> suspended

A `Registration` is one sender type's registration of traffic: a 10DLC campaign, a toll-free
verification or a short code. Its content lives in `RegistrationSnapshot` versions::

    draft --submit--> submitted --approve--> approved --(a newer one is approved)--> superseded
                                --reject---> rejected

A snapshot's content is frozen once it leaves draft (the model refuses to change it); an edit
is a new draft. The registration's status is that of its newest decided snapshot, and
`approved_snapshot` points at the one in force. Every transition is a guarded conditional UPDATE
plus a `RegistrationEvent` row, in one transaction.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Max, Q
from django.utils import timezone

from consent.models import Program
from messaging.models import Sender

from .validation import validate_snapshot


class RegistrationError(Exception):
    """A transition that is not allowed from the current state, or a snapshot that fails."""


class EntityType(models.TextChoices):
    PRIVATE_PROFIT = "PRIVATE_PROFIT", "Private company"
    PUBLIC_PROFIT = "PUBLIC_PROFIT", "Public company"
    NON_PROFIT = "NON_PROFIT", "Non-profit"
    GOVERNMENT = "GOVERNMENT", "Government"
    SOLE_PROPRIETOR = "SOLE_PROPRIETOR", "Sole proprietor"


class IdentityStatus(models.TextChoices):
    SELF_DECLARED = "SELF_DECLARED", "Self-declared"
    UNVERIFIED = "UNVERIFIED", "Unverified"
    VERIFIED = "VERIFIED", "Verified"
    VETTED_VERIFIED = "VETTED_VERIFIED", "Vetted and verified"


class BrandStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    FAILED = "failed", "Failed"
    SUSPENDED = "suspended", "Suspended"


class Brand(models.Model):
    entity_type = models.CharField(max_length=20, choices=EntityType.choices)
    legal_name = models.CharField("legal company name", max_length=255)
    display_name = models.CharField(max_length=255)
    tax_id = models.CharField("tax id (EIN)", max_length=40, blank=True)
    tax_id_country = models.CharField(max_length=2, default="US")
    street = models.CharField(max_length=255, blank=True)
    city = models.CharField(max_length=120, blank=True)
    region = models.CharField("state / region", max_length=40, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    country = models.CharField(max_length=2, default="US")
    phone = models.CharField(max_length=20, blank=True)
    support_email = models.EmailField(blank=True)
    website = models.URLField(blank=True)
    vertical = models.CharField(max_length=60, blank=True, help_text="e.g. RETAIL, HEALTHCARE")
    stock_symbol = models.CharField(max_length=10, blank=True)
    stock_exchange = models.CharField(max_length=20, blank=True)
    identity_status = models.CharField(
        max_length=20, choices=IdentityStatus.choices, default=IdentityStatus.UNVERIFIED
    )
    trust_score = models.PositiveSmallIntegerField(null=True, blank=True)
    registry_brand_id = models.CharField(
        "registry (TCR) brand id", max_length=40, blank=True, db_index=True
    )
    provider_sid = models.CharField(
        "provider id (BN…)", max_length=34, null=True, blank=True, unique=True
    )
    status = models.CharField(
        max_length=12, choices=BrandStatus.choices, default=BrandStatus.DRAFT, editable=False
    )
    failure_reason = models.TextField(blank=True, editable=False)
    synced_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["display_name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=BrandStatus.values), name="brand_status_valid"
            ),
            models.CheckConstraint(
                condition=~Q(entity_type="PUBLIC_PROFIT")
                | (~Q(stock_symbol="") & ~Q(stock_exchange="")),
                name="brand_public_company_has_stock",
            ),
        ]

    def __str__(self) -> str:
        return self.display_name

    def clean(self) -> None:
        if self.entity_type == EntityType.PUBLIC_PROFIT and not (
            self.stock_symbol and self.stock_exchange
        ):
            raise ValidationError(
                {"stock_symbol": "A public company needs its stock symbol and exchange."}
            )

    def set_status(self, to: str, *, by=None, note: str = "") -> bool:
        """Move to `to` (from any other status) and record it; False if already there."""
        with transaction.atomic():
            updated = Brand.objects.filter(pk=self.pk).exclude(status=to).update(status=to)
            if updated:
                BrandEvent.objects.create(
                    brand=self, from_status=self.status, to_status=to, by=by, note=note
                )
        self.status = to
        return bool(updated)


class BrandEvent(models.Model):
    """The brand's status history."""

    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="events")
    from_status = models.CharField(max_length=12, choices=BrandStatus.choices)
    to_status = models.CharField(max_length=12, choices=BrandStatus.choices)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    at = models.DateTimeField(default=timezone.now)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.brand}: {self.from_status} → {self.to_status}"


class RegistrationKind(models.TextChoices):
    CAMPAIGN_10DLC = "10dlc", "10DLC campaign"
    TOLL_FREE = "toll_free", "Toll-free verification"
    SHORT_CODE = "short_code", "Short code"


#: Which sender kind each registration kind covers.
SENDER_KIND_OF = {"10dlc": "10dlc", "toll_free": "toll_free", "short_code": "short_code"}


class RegistrationStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    SUSPENDED = "suspended", "Suspended"


class Registration(models.Model):
    """One registration of a sender type's traffic, covering `senders` and `programs`.

    The content carriers saw is the approved snapshot's; `status` follows the snapshots and
    the provider (a suspension arrives through the provider sync).
    """

    kind = models.CharField(max_length=12, choices=RegistrationKind.choices)
    name = models.CharField(max_length=120, unique=True)
    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="registrations")
    senders = models.ManyToManyField(Sender, related_name="registrations", blank=True)
    programs = models.ManyToManyField(Program, related_name="registrations", blank=True)
    status = models.CharField(
        max_length=12,
        choices=RegistrationStatus.choices,
        default=RegistrationStatus.DRAFT,
        editable=False,
    )
    approved_snapshot = models.ForeignKey(
        "RegistrationSnapshot",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
    )
    registry_campaign_id = models.CharField("registry (TCR) campaign id", max_length=40, blank=True)
    provider_sid = models.CharField(
        "provider id (QE… / HH…)", max_length=34, null=True, blank=True, unique=True
    )
    messaging_service_sid = models.CharField(
        max_length=34, blank=True, help_text="The Messaging Service a 10DLC campaign is bound to."
    )
    short_code = models.CharField(max_length=8, blank=True)
    att_messages_per_minute = models.PositiveIntegerField(
        "AT&T messages per minute", null=True, blank=True
    )
    tmobile_daily_segments = models.PositiveIntegerField(
        "T-Mobile daily segments (brand)", null=True, blank=True
    )
    review_cadence_days = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="Days between program reviews; blank: the default (REGISTRATION_REVIEW_DAYS).",
    )
    failure_reason = models.TextField(blank=True, editable=False)
    synced_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=RegistrationStatus.values),
                name="registration_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=RegistrationKind.values), name="registration_kind_valid"
            ),
        ]
        permissions = [
            ("review_registration", "Can run program reviews and sign off their findings"),
            ("sync_registration", "Can import, refresh and submit registrations with Twilio"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def cadence(self) -> timedelta:
        return timedelta(days=self.review_cadence_days or settings.REGISTRATION_REVIEW_DAYS)

    def latest_snapshot(self) -> RegistrationSnapshot | None:
        return self.snapshots.order_by("-number").first()

    def new_draft(self, *, by, **changes: Any) -> RegistrationSnapshot:
        """A new draft: a copy of the newest snapshot (or empty) with `changes` applied."""
        base = self.latest_snapshot()
        values = base.content() if base else {}
        values.update(changes)
        draft = RegistrationSnapshot(registration=self, created_by=by, **values)
        draft.save()
        return draft

    def _set_status(self, to: str, *, by=None, note: str = "", **fields: Any) -> None:
        with transaction.atomic():
            Registration.objects.filter(pk=self.pk).update(status=to, **fields)
            if to != self.status:
                RegistrationEvent.objects.create(
                    registration=self, from_status=self.status, to_status=to, by=by, note=note
                )
        self.status = to
        for name, value in fields.items():
            setattr(self, name, value)

    def suspend(self, *, by=None, note: str = "") -> None:
        self._set_status(RegistrationStatus.SUSPENDED, by=by, note=note)


class RegistrationEvent(models.Model):
    """The registration's status history."""

    registration = models.ForeignKey(Registration, on_delete=models.PROTECT, related_name="events")
    from_status = models.CharField(max_length=12, choices=RegistrationStatus.choices)
    to_status = models.CharField(max_length=12, choices=RegistrationStatus.choices)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    at = models.DateTimeField(default=timezone.now)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.registration}: {self.from_status} → {self.to_status}"


class SnapshotStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    SUPERSEDED = "superseded", "Superseded"


#: The fields that make up what carriers see; frozen once submitted, compared by the diff.
CONTENT_FIELDS = (
    "use_case",
    "sub_use_cases",
    "description",
    "message_flow",
    "message_samples",
    "opt_in_keywords",
    "opt_in_message",
    "opt_out_keywords",
    "opt_out_message",
    "help_keywords",
    "help_message",
    "has_embedded_links",
    "has_embedded_phone",
    "link_domains",
    "number_pool",
    "age_gated",
    "direct_lending",
    "affiliate_marketing",
    "subscriber_opt_in",
    "privacy_policy_url",
    "terms_url",
    "opt_in_type",
    "opt_in_image_urls",
    "monthly_volume",
)


class RegistrationSnapshot(models.Model):
    """One version of what a registration tells the carriers (see the module docstring).

    The fields follow Twilio's A2P campaign resource (UsAppToPerson); a toll-free verification
    uses `use_case` (category), `description` (use-case summary), the first sample (production
    message sample), `opt_in_type`, `opt_in_image_urls` and `monthly_volume`; a short code
    uses the campaign's fields and `monthly_volume`.
    """

    registration = models.ForeignKey(
        Registration, on_delete=models.PROTECT, related_name="snapshots"
    )
    number = models.PositiveIntegerField(editable=False)
    status = models.CharField(
        max_length=12, choices=SnapshotStatus.choices, default=SnapshotStatus.DRAFT, editable=False
    )
    use_case = models.CharField(
        max_length=40, help_text="e.g. MARKETING, ACCOUNT_NOTIFICATION, MIXED (data, not a list)."
    )
    sub_use_cases = models.JSONField(
        default=list, blank=True, help_text="MIXED / LOW_VOLUME: 2-5 use cases."
    )
    description = models.TextField(blank=True, help_text="40-4096 characters.")
    message_flow = models.TextField(
        "message flow / call to action", blank=True, help_text="40-2048 characters."
    )
    message_samples = models.JSONField(
        default=list, blank=True, help_text="2-5 samples of 20-1024 characters."
    )
    opt_in_keywords = models.JSONField(default=list, blank=True)
    opt_in_message = models.TextField(blank=True)
    opt_out_keywords = models.JSONField(default=list, blank=True)
    opt_out_message = models.TextField(blank=True)
    help_keywords = models.JSONField(default=list, blank=True)
    help_message = models.TextField(blank=True)
    has_embedded_links = models.BooleanField(default=False)
    has_embedded_phone = models.BooleanField(default=False)
    link_domains = models.JSONField(
        default=list, blank=True, help_text="Branded domains the messages link to."
    )
    number_pool = models.BooleanField(default=False)
    age_gated = models.BooleanField(default=False)
    direct_lending = models.BooleanField(default=False)
    affiliate_marketing = models.BooleanField(default=False)
    subscriber_opt_in = models.BooleanField(default=True)
    privacy_policy_url = models.URLField(blank=True)
    terms_url = models.URLField("terms and conditions URL", blank=True)
    opt_in_type = models.CharField(
        max_length=20, blank=True, help_text="Toll-free: WEB_FORM, KEYWORD, VERBAL, PAPER..."
    )
    opt_in_image_urls = models.JSONField(default=list, blank=True)
    monthly_volume = models.PositiveIntegerField(null=True, blank=True)
    findings = models.JSONField(default=list, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
    )
    submitted_at = models.DateTimeField(null=True, blank=True, editable=False)
    decided_at = models.DateTimeField(null=True, blank=True, editable=False)
    decision_note = models.TextField(blank=True, editable=False)

    class Meta:
        ordering = ["registration", "-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["registration", "number"], name="registration_snapshot_number_unique"
            ),
            models.UniqueConstraint(
                fields=["registration"],
                condition=Q(status="approved"),
                name="one_approved_snapshot_per_registration",
            ),
            models.CheckConstraint(
                condition=Q(status="draft") | Q(submitted_at__isnull=False),
                name="snapshot_submitted_has_time",
            ),
            models.CheckConstraint(
                condition=Q(status__in=SnapshotStatus.values), name="snapshot_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.registration} v{self.number}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            stored = RegistrationSnapshot.objects.get(pk=self.pk)
            if stored.status != SnapshotStatus.DRAFT and stored.content() != self.content():
                raise RegistrationError(f"{self} was submitted; edit it as a new draft.")
        if self.number is None:
            last = RegistrationSnapshot.objects.filter(registration=self.registration_id).aggregate(
                Max("number")
            )
            self.number = (last["number__max"] or 0) + 1
        if self.status == SnapshotStatus.DRAFT:
            self.findings = [f.as_dict() for f in validate_snapshot(self)]
        super().save(*args, **kwargs)

    def content(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in CONTENT_FIELDS}

    def previous(self) -> RegistrationSnapshot | None:
        return (
            RegistrationSnapshot.objects.filter(
                registration=self.registration_id, number__lt=self.number
            )
            .order_by("-number")
            .first()
        )

    # --- transitions --------------------------------------------------------------------

    def _transition(self, *, frm: tuple[str, ...], to: str, by, note: str = "", **fields) -> None:
        with transaction.atomic():
            updated = RegistrationSnapshot.objects.filter(pk=self.pk, status__in=frm).update(
                status=to, **fields
            )
            if not updated:
                current = RegistrationSnapshot.objects.get(pk=self.pk).get_status_display()
                raise RegistrationError(
                    f"{self} is {current.lower()}; it cannot become "
                    f"{SnapshotStatus(to).label.lower()}."
                )
        self.refresh_from_db()

    def submit(self, *, by) -> list[dict]:
        """Freeze a draft for the carriers. Refused while a `reject` finding remains."""
        findings = validate_snapshot(self)
        blocking = [f.code for f in findings if f.severity == "reject"]
        if blocking:
            raise RegistrationError(
                f"{self} would be rejected: {', '.join(sorted(set(blocking)))}."
            )
        with transaction.atomic():
            self._transition(
                frm=(SnapshotStatus.DRAFT,),
                to=SnapshotStatus.SUBMITTED,
                by=by,
                submitted_at=timezone.now(),
                submitted_by=by,
                findings=[f.as_dict() for f in findings],
            )
            self.registration._set_status(
                RegistrationStatus.SUBMITTED, by=by, note=f"v{self.number} submitted"
            )
        return [f.as_dict() for f in findings]

    def approve(self, *, by=None, note: str = "") -> None:
        """Carriers accepted it: it is in force, the previously approved one is superseded."""
        with transaction.atomic():
            RegistrationSnapshot.objects.filter(
                registration=self.registration_id, status=SnapshotStatus.APPROVED
            ).exclude(pk=self.pk).update(status=SnapshotStatus.SUPERSEDED)
            self._transition(
                frm=(SnapshotStatus.SUBMITTED,),
                to=SnapshotStatus.APPROVED,
                by=by,
                decided_at=timezone.now(),
                decision_note=note,
            )
            self.registration._set_status(
                RegistrationStatus.APPROVED,
                by=by,
                note=note or f"v{self.number} approved",
                approved_snapshot=self,
                failure_reason="",
            )

    def reject(self, *, by=None, note: str) -> None:
        with transaction.atomic():
            self._transition(
                frm=(SnapshotStatus.SUBMITTED,),
                to=SnapshotStatus.REJECTED,
                by=by,
                decided_at=timezone.now(),
                decision_note=note,
            )
            # An approved earlier snapshot stays in force; without one the registration fails.
            if self.registration.approved_snapshot_id is None:
                self.registration._set_status(
                    RegistrationStatus.REJECTED, by=by, note=note, failure_reason=note
                )


class ReviewTrigger(models.TextChoices):
    SCHEDULE = "schedule", "Schedule"
    ADMIN = "admin", "Review now (admin)"
    COMMAND = "command", "Command"
    DEMO = "demo", "Demo data"


class ProgramReview(models.Model):
    """One run of the program review over a registration (or, without one, over every
    sender's traffic that no registration covers), and the findings it raised.

    A review is signed off by compliance once each of its open findings is acknowledged,
    resolved or answered with a new snapshot.
    """

    registration = models.ForeignKey(
        Registration, on_delete=models.PROTECT, null=True, blank=True, related_name="reviews"
    )
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    trigger = models.CharField(max_length=10, choices=ReviewTrigger.choices)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    messages_seen = models.PositiveIntegerField(default=0)
    raised = models.PositiveIntegerField(default=0, help_text="Findings new or grown in this run.")
    open_after = models.PositiveIntegerField(
        default=0, help_text="Open findings of the registration after this run."
    )
    signed_off_at = models.DateTimeField(null=True, blank=True, editable=False)
    signed_off_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
    )
    sign_off_note = models.TextField(blank=True, editable=False)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["registration", "started_at"])]

    def __str__(self) -> str:
        scope = self.registration or "unregistered senders"
        return f"Review of {scope} on {self.started_at:%Y-%m-%d %H:%M}"

    def sign_off(self, *, by, note: str = "") -> None:
        """Record that compliance has looked at every finding of this review."""
        if self.findings_seen.filter(status=FindingStatus.OPEN).exists():
            raise RegistrationError(
                "Acknowledge, resolve or answer every open finding before signing off."
            )
        updated = ProgramReview.objects.filter(pk=self.pk, signed_off_at__isnull=True).update(
            signed_off_at=timezone.now(), signed_off_by=by, sign_off_note=note
        )
        if not updated:
            raise RegistrationError(f"{self} is already signed off.")
        self.refresh_from_db()


class Severity(models.TextChoices):
    REJECT = "reject", "Likely rejection or suspension"
    WARNING = "warning", "Warning"
    INFO = "info", "Info"


class FindingCode(models.TextChoices):
    UNDECLARED_LINKS = "undeclared_links", "Undeclared links"
    UNDECLARED_PHONE = "undeclared_phone", "Undeclared phone numbers"
    USE_CASE_MISMATCH = "use_case_mismatch", "Use case mismatch"
    SAMPLE_DRIFT = "sample_drift", "Sample drift"
    OPT_IN_FLOW_CHANGED = "opt_in_flow_changed", "Opt-in flow changed"
    KEYWORD_MISMATCH = "keyword_mismatch", "Keyword mismatch"
    CONTENT_FLAGS = "content_flags", "Undeclared content flags"
    THROUGHPUT_EXCEEDED = "throughput_exceeded", "Throughput exceeded"
    UNREGISTERED_SENDER = "unregistered_sender", "Unregistered sender"
    REVIEW_OVERDUE = "review_overdue", "Review overdue"


class FindingStatus(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"


class ReviewFinding(models.Model):
    """Something the review found, carried over between runs by `key`.

    Lifecycle::

        open --acknowledge (note)--> acknowledged --(grows: magnitude up)--> open
        open | acknowledged --resolve--> resolved        (no longer seen --> resolved)

    `magnitude` is the number that "grows" (messages, templates, days); an acknowledged
    finding is raised again only when it exceeds `acknowledged_magnitude`.
    """

    registration = models.ForeignKey(
        Registration, on_delete=models.PROTECT, null=True, blank=True, related_name="findings"
    )
    sender = models.ForeignKey(
        Sender, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    review = models.ForeignKey(ProgramReview, on_delete=models.PROTECT, related_name="findings")
    first_review = models.ForeignKey(
        ProgramReview, on_delete=models.PROTECT, related_name="+", editable=False
    )
    # `review` is the latest run that saw it; `seen_by` every run that did, so each review
    # keeps the findings it came up with.
    seen_by = models.ManyToManyField(
        ProgramReview, related_name="findings_seen", blank=True, editable=False
    )
    key = models.CharField(max_length=200, help_text="Identifies the same finding across runs.")
    code = models.CharField(max_length=30, choices=FindingCode.choices)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    field = models.CharField("registration field", max_length=60)
    detail = models.TextField()
    evidence = models.JSONField(default=dict, blank=True)
    risk = models.TextField("carrier rejection risked", blank=True)
    suggested_fix = models.TextField(blank=True)
    proposal = models.JSONField(
        default=dict, blank=True, help_text="Snapshot changes that would answer it."
    )
    templates = models.ManyToManyField(
        "templates.MessageTemplate", blank=True, related_name="registration_findings"
    )
    magnitude = models.PositiveIntegerField(default=0)
    status = models.CharField(
        max_length=12, choices=FindingStatus.choices, default=FindingStatus.OPEN, editable=False
    )
    first_seen_at = models.DateTimeField(default=timezone.now, editable=False)
    last_seen_at = models.DateTimeField(default=timezone.now, editable=False)
    acknowledged_at = models.DateTimeField(null=True, blank=True, editable=False)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
    )
    acknowledged_magnitude = models.PositiveIntegerField(null=True, blank=True, editable=False)
    note = models.TextField(blank=True, editable=False)
    resolved_at = models.DateTimeField(null=True, blank=True, editable=False)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
    )
    answered_by_snapshot = models.ForeignKey(
        RegistrationSnapshot,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="answers",
    )

    class Meta:
        ordering = ["-last_seen_at", "-id"]
        indexes = [models.Index(fields=["status", "code"])]
        constraints = [
            # One live finding per subject; a resolved one that comes back is a new row.
            models.UniqueConstraint(
                fields=["registration", "key"],
                condition=~Q(status="resolved"),
                name="one_live_finding_per_key",
            ),
            models.CheckConstraint(
                condition=Q(status__in=FindingStatus.values), name="finding_status_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status="acknowledged") | Q(acknowledged_at__isnull=False),
                name="finding_acknowledged_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_code_display()}: {self.detail[:60]}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.pk,
            "registration": self.registration_id,
            "registration_name": str(self.registration) if self.registration_id else None,
            "sender": self.sender_id,
            "code": self.code,
            "severity": self.severity,
            "field": self.field,
            "detail": self.detail,
            "evidence": self.evidence,
            "risk": self.risk,
            "suggested_fix": self.suggested_fix,
            "status": self.status,
            "magnitude": self.magnitude,
        }

    def acknowledge(self, *, by, note: str) -> None:
        if not note.strip():
            raise RegistrationError("Say why the finding is acceptable.")
        updated = ReviewFinding.objects.filter(pk=self.pk, status=FindingStatus.OPEN).update(
            status=FindingStatus.ACKNOWLEDGED,
            acknowledged_at=timezone.now(),
            acknowledged_by=by,
            acknowledged_magnitude=self.magnitude,
            note=note,
        )
        if not updated:
            raise RegistrationError(f"Finding #{self.pk} is not open.")
        self.refresh_from_db()

    def resolve(self, *, by, note: str = "", snapshot: RegistrationSnapshot | None = None) -> None:
        updated = (
            ReviewFinding.objects.filter(pk=self.pk)
            .exclude(status=FindingStatus.RESOLVED)
            .update(
                status=FindingStatus.RESOLVED,
                resolved_at=timezone.now(),
                resolved_by=by,
                note=note or self.note,
                answered_by_snapshot=snapshot,
            )
        )
        if not updated:
            raise RegistrationError(f"Finding #{self.pk} is already resolved.")
        self.refresh_from_db()
