"""Message templates: what marketing writes and compliance approves.

A `TemplateVersion` moves through::

    draft --submit--> pending_review --approve--> approved --retire--> retired
                                     --reject---> rejected

A version's body is frozen once it leaves draft (the model refuses and the database refuses);
editing makes a new version. The reviewer is never the author (four eyes), enforced in the
transition and by a database constraint. Every transition is a guarded conditional UPDATE plus
a `TemplateVersionEvent` row, in one transaction. Only approved versions may be sent.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from consent.models import Program

from . import rendering
from .checks import CheckConfig, Finding, has_blockers, run_checks
from .encoding import analyze


class TransitionError(Exception):
    """A transition that is not allowed from the current state, or not by this person."""


class TemplateCategory(models.TextChoices):
    TRANSACTIONAL = "transactional", "Transactional"
    PROMOTIONAL = "promotional", "Promotional"
    REMINDER = "reminder", "Reminder"
    OTP = "otp", "One-time passcode"
    FOLLOW_UP = "follow_up", "Follow-up"
    CUSTOMER_CARE = "customer_care", "Customer care"


class MessageTemplate(models.Model):
    name = models.CharField(max_length=120)
    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="templates")
    category = models.CharField(max_length=20, choices=TemplateCategory.choices)
    description = models.TextField(blank=True)
    first_contact = models.BooleanField(
        default=False,
        help_text="Sent as someone's first message: must carry the brand and opt-out language.",
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="message_templates"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["program", "name"], name="template_name_per_program")
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def approved_version(self) -> TemplateVersion | None:
        return self.versions.filter(status=VersionStatus.APPROVED).first()

    def check_config(self) -> CheckConfig:
        """The content-check settings for this template's program and category."""
        is_marketing = self.category == TemplateCategory.PROMOTIONAL or (
            self.program.message_type == "marketing"
            and self.category not in (TemplateCategory.OTP, TemplateCategory.CUSTOMER_CARE)
        )
        return CheckConfig(
            brand_name=self.program.brand_name,
            is_marketing_or_first_contact=is_marketing or self.first_contact,
            allowed_link_domains=tuple(settings.SMS_ALLOWED_LINK_DOMAINS),
            max_segments=settings.SMS_MAX_SEGMENTS,
        )


def default_check_config() -> CheckConfig:
    """The checks for a body whose template is not chosen yet: the deployment's link domains
    and segment limit, judged as a marketing message (the strictest)."""
    return CheckConfig(
        allowed_link_domains=tuple(settings.SMS_ALLOWED_LINK_DOMAINS),
        max_segments=settings.SMS_MAX_SEGMENTS,
    )


class VersionStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PENDING_REVIEW = "pending_review", "Pending review"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    RETIRED = "retired", "Retired"


def validate_body(body: str) -> rendering.CompiledTemplate:
    """Compile a body, turning unknown tokens and syntax errors into a ValidationError."""
    try:
        return rendering.compile_template(body)
    except rendering.UnknownTokenError as exc:
        names = ", ".join("{" + t + "}" for t in exc.tokens)
        raise ValidationError(
            f"Unknown token{'s' if len(exc.tokens) > 1 else ''}: {names}. Known: first_name, "
            "last_name, email, phone, attr.<name>, event.<name>.",
            code="unknown_token",
        ) from exc
    except rendering.TemplateSyntaxError as exc:
        raise ValidationError(str(exc), code="template_syntax") from exc


class TemplateVersion(models.Model):
    template = models.ForeignKey(MessageTemplate, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField(editable=False)
    body = models.TextField(max_length=1600)
    status = models.CharField(
        max_length=20, choices=VersionStatus.choices, default=VersionStatus.DRAFT, editable=False
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", editable=False
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    submitted_at = models.DateTimeField(null=True, blank=True, editable=False)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
    )
    reviewed_at = models.DateTimeField(null=True, blank=True, editable=False)
    review_note = models.TextField(blank=True, editable=False)
    findings = models.JSONField(default=list, blank=True, editable=False)
    encoding = models.CharField(max_length=8, blank=True, editable=False)
    segments = models.PositiveSmallIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["template", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["template", "number"], name="version_number_unique"),
            models.UniqueConstraint(
                fields=["template"],
                condition=Q(status="approved"),
                name="one_approved_version_per_template",
            ),
            models.CheckConstraint(
                condition=Q(reviewer__isnull=True) | ~Q(reviewer=F("author")),
                name="version_reviewer_is_not_author",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["approved", "rejected", "retired"])
                | Q(reviewer__isnull=False, reviewed_at__isnull=False),
                name="version_reviewed_has_reviewer",
            ),
            models.CheckConstraint(
                condition=Q(status__in=VersionStatus.values), name="version_status_valid"
            ),
        ]
        indexes = [models.Index(fields=["status", "submitted_at"])]
        permissions = [("review_templateversion", "Can approve or reject template versions")]

    def __str__(self) -> str:
        return f"{self.template} v{self.number}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            stored = TemplateVersion.objects.only("status", "body").get(pk=self.pk)
            if stored.status != VersionStatus.DRAFT and stored.body != self.body:
                raise TransitionError(f"{self} is frozen; edit it as a new version.")
        if self.number is None:
            last = TemplateVersion.objects.filter(template=self.template_id).aggregate(
                Max("number")
            )
            self.number = (last["number__max"] or 0) + 1
        analysis = analyze(self.body)
        self.encoding, self.segments = analysis.encoding, analysis.segments
        super().save(*args, **kwargs)

    def clean(self) -> None:
        if self.pk and self.status != VersionStatus.DRAFT:
            raise ValidationError("This version was submitted; edit it as a new version.")
        try:
            validate_body(self.body)
        except ValidationError as exc:
            raise ValidationError({"body": exc.messages}) from exc

    @property
    def compiled(self) -> rendering.CompiledTemplate:
        return rendering.compile_template(self.body)

    def run_checks(self) -> list[Finding]:
        return run_checks(self.body, self.template.check_config())

    # --- transitions --------------------------------------------------------------------------

    def _transition(self, *, frm: tuple[str, ...], to: str, by, note: str = "", **fields) -> None:
        with transaction.atomic():
            updated = TemplateVersion.objects.filter(pk=self.pk, status__in=frm).update(
                status=to, **fields
            )
            if not updated:
                current = TemplateVersion.objects.get(pk=self.pk).get_status_display()
                target = VersionStatus(to).label.lower()
                raise TransitionError(f"{self} is {current.lower()}; it cannot become {target}.")
            TemplateVersionEvent.objects.create(
                version=self, from_status=self.status, to_status=to, by=by, note=note
            )
        self.refresh_from_db()

    def submit(self, *, by) -> list[Finding]:
        """Send a draft to review. Runs the content checks and stores them for the reviewer;
        a blocking finding refuses (it could never be approved), naming each one."""
        validate_body(self.body)
        findings = self.run_checks()
        blocking = [f for f in findings if f.severity == "block"]
        if blocking:
            named = "; ".join(f"{f.code}: {f.message}" for f in blocking)
            raise TransitionError(
                f"{self} cannot be submitted: fix the blocking findings ({named})."
            )
        self._transition(
            frm=(VersionStatus.DRAFT,),
            to=VersionStatus.PENDING_REVIEW,
            by=by,
            submitted_at=timezone.now(),
            findings=[f.as_dict() for f in findings],
        )
        return findings

    def _check_reviewer(self, by) -> None:
        if by is None or by.pk == self.author_id:
            raise TransitionError(f"{self} was written by {by}; someone else must review it.")

    def approve(self, *, by, note: str = "") -> None:
        """Approve a pending version (never by its author); the previous approved one retires."""
        self._check_reviewer(by)
        findings = self.run_checks()
        if has_blockers(findings):
            codes = ", ".join(f.code for f in findings if f.severity == "block")
            raise TransitionError(f"{self} cannot be approved: blocking findings ({codes}).")
        with transaction.atomic():
            for previous in TemplateVersion.objects.select_for_update().filter(
                template=self.template_id, status=VersionStatus.APPROVED
            ):
                previous.retire(by=by, note=f"Replaced by v{self.number}")
            self._transition(
                frm=(VersionStatus.PENDING_REVIEW,),
                to=VersionStatus.APPROVED,
                by=by,
                note=note,
                reviewer=by,
                reviewed_at=timezone.now(),
                review_note=note,
            )

    def reject(self, *, by, note: str) -> None:
        self._check_reviewer(by)
        if not note.strip():
            raise TransitionError("Say why the version is rejected.")
        self._transition(
            frm=(VersionStatus.PENDING_REVIEW,),
            to=VersionStatus.REJECTED,
            by=by,
            note=note,
            reviewer=by,
            reviewed_at=timezone.now(),
            review_note=note,
        )

    def retire(self, *, by, note: str = "") -> None:
        self._transition(frm=(VersionStatus.APPROVED,), to=VersionStatus.RETIRED, by=by, note=note)

    def new_draft(self, *, by, body: str | None = None) -> TemplateVersion:
        """Editing a submitted version: a new draft with this body (or `body`)."""
        draft = TemplateVersion(
            template=self.template, body=self.body if body is None else body, author=by
        )
        draft.full_clean(exclude=["template", "author"])
        draft.save()
        return draft


class TemplateVersionEvent(models.Model):
    """The history of a version's transitions: who moved it, when, from what to what, why."""

    version = models.ForeignKey(TemplateVersion, on_delete=models.PROTECT, related_name="events")
    from_status = models.CharField(max_length=20, choices=VersionStatus.choices)
    to_status = models.CharField(max_length=20, choices=VersionStatus.choices)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=timezone.now)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.version}: {self.from_status} → {self.to_status}"


class ReviewQueueItem(TemplateVersion):
    """Versions waiting for compliance review: the queue in the admin."""

    class Meta:
        proxy = True
        verbose_name = "version awaiting review"
        verbose_name_plural = "versions awaiting review"
