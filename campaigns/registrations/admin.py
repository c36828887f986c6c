"""Admin for brands, registrations (snapshot history and diffs), program reviews and findings.

Compliance runs reviews and signs them off (`campaigns.review_registration`); Marketing sees
the findings that concern templates. Every button calls a model method or a service.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Max, Q
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from config.lib.admin_tools import admin_date
from messaging.admin.outbound import SenderAdmin
from messaging.models import Sender

from . import sync
from .chart import line_chart, open_findings_series
from .diff import snapshot_diff
from .models import (
    CONTENT_FIELDS,
    Brand,
    BrandEvent,
    FindingStatus,
    ProgramReview,
    Registration,
    RegistrationError,
    RegistrationEvent,
    RegistrationSnapshot,
    ReviewFinding,
    ReviewTrigger,
    SnapshotStatus,
)
from .review import prepare_snapshot, program_review_run

REVIEW_PERMISSION = "campaigns.review_registration"
SYNC_PERMISSION = "campaigns.sync_registration"


def _can_review(request) -> bool:
    return request.user.has_perm(REVIEW_PERMISSION)


def diff_table(before: RegistrationSnapshot | None, after: RegistrationSnapshot) -> SafeString:
    changes = snapshot_diff(before, after)
    if not changes:
        return format_html("<p>No change from v{}.</p>", before.number if before else "-")

    def shown(value) -> str:
        if isinstance(value, list):
            return "\n".join(f"• {v}" for v in value) or "(none)"
        return "(empty)" if value in (None, "") else str(value)

    rows = format_html_join(
        "",
        '<tr><th scope="row">{}</th><td class="diff-before">{}</td>'
        '<td class="diff-after">{}</td></tr>',
        ((c.field.replace("_", " "), shown(c.before), shown(c.after)) for c in changes),
    )
    return format_html(
        '<table class="snapshot-diff" style="white-space:pre-wrap"><caption>Changes from {} '
        'to v{}</caption><thead><tr><th scope="col">Field</th><th scope="col">Before</th>'
        '<th scope="col">After</th></tr></thead><tbody>{}</tbody></table>',
        f"v{before.number}" if before else "nothing",
        after.number,
        rows,
    )


# --- brands -------------------------------------------------------------------------------------


class BrandEventInline(admin.TabularInline):
    model = BrandEvent
    fields = ["at", "from_status", "to_status", "by", "note"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Brand)
class BrandAdmin(admin.ModelAdmin):
    list_display = [
        "display_name",
        "entity_type",
        "identity_status",
        "trust_score",
        "status",
        "provider_sid",
        "synced_at",
    ]
    list_filter = ["status", "entity_type", "identity_status"]
    search_fields = ["display_name", "legal_name", "provider_sid", "registry_brand_id"]
    readonly_fields = ["status", "failure_reason", "synced_at"]
    inlines = [BrandEventInline]
    actions = ["import_action"]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(
        description="Import and refresh brands and campaigns from Twilio", permissions=["sync"]
    )
    def import_action(self, request, queryset):
        _sync_import(self, request)

    def has_sync_permission(self, request) -> bool:
        return request.user.has_perm(SYNC_PERMISSION)


def _sync_import(model_admin, request) -> None:
    try:
        report = sync.registration_import()
    except sync.SyncError as exc:
        model_admin.message_user(request, str(exc), messages.ERROR)
    else:
        model_admin.message_user(request, str(report), messages.SUCCESS)


# --- registrations ------------------------------------------------------------------------------


class SnapshotInline(admin.TabularInline):
    model = RegistrationSnapshot
    fields = ["version", "status", "use_case", "submitted_at", "submitted_by", "decided_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["-number"]
    verbose_name_plural = "snapshot history"

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="version")
    def version(self, obj: RegistrationSnapshot) -> str:
        url = reverse("admin:campaigns_registrationsnapshot_change", args=[obj.pk])
        return format_html('<a href="{}">v{}</a>', url, obj.number)


class RegistrationEventInline(admin.TabularInline):
    model = RegistrationEvent
    fields = ["at", "from_status", "to_status", "by", "note"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "status history"

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Registration)
class RegistrationAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "kind",
        "brand",
        "status",
        "in_force",
        "open_findings",
        "last_sign_off",
    ]
    list_filter = ["kind", "status"]
    list_select_related = ["brand", "approved_snapshot"]
    search_fields = ["name", "provider_sid", "registry_campaign_id"]
    filter_horizontal = ["senders", "programs"]
    readonly_fields = ["status", "approved_snapshot", "failure_reason", "synced_at", "history"]
    inlines = [SnapshotInline, RegistrationEventInline]
    actions = ["review_now_action"]
    change_form_template = "admin/campaigns/registration/change_form.html"

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                open_count=Count("findings", filter=Q(findings__status=FindingStatus.OPEN)),
                signed_off=Max("reviews__signed_off_at"),
            )
        )

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="in force")
    def in_force(self, obj: Registration) -> str:
        return f"v{obj.approved_snapshot.number}" if obj.approved_snapshot else "-"

    @admin.display(description="open findings", ordering="open_count")
    def open_findings(self, obj: Registration) -> int:
        return obj.open_count

    @admin.display(description="last sign-off", ordering="signed_off")
    def last_sign_off(self, obj: Registration) -> SafeString:
        since = obj.signed_off or obj.created_at
        if since + obj.cadence < timezone.now():
            return format_html(
                '<strong class="overdue" style="color:#ba2121">overdue since {}</strong>',
                admin_date(since + obj.cadence),
            )
        return format_html("{}", admin_date(obj.signed_off) if obj.signed_off else "-")

    @admin.display(description="what changed, snapshot by snapshot")
    def history(self, obj: Registration) -> SafeString:
        snapshots = list(obj.snapshots.order_by("number"))
        if not snapshots:
            return format_html("<p>No snapshot yet.</p>")
        parts = [
            diff_table(None if i == 0 else snapshots[i - 1], s) for i, s in enumerate(snapshots)
        ][::-1]
        return format_html_join("", "{}", ((p,) for p in parts))

    def get_urls(self):
        return [
            path(
                "<int:pk>/review-now/",
                self.admin_site.admin_view(self.review_now_view),
                name="campaigns_registration_review_now",
            ),
            path(
                "<int:pk>/sync/<str:operation>/",
                self.admin_site.admin_view(self.sync_view),
                name="campaigns_registration_sync",
            ),
            *super().get_urls(),
        ]

    def review_now_view(self, request, pk: int):
        registration = get_object_or_404(Registration, pk=pk)
        if request.method != "POST" or not _can_review(request):
            raise PermissionDenied
        review = program_review_run(
            registration=registration, trigger=ReviewTrigger.ADMIN, by=request.user
        )
        self.message_user(
            request,
            f"Reviewed {review.messages_seen} messages: {review.findings_seen.count()} findings, "
            f"{review.raised} new or grown.",
        )
        return redirect("admin:campaigns_programreview_change", review.pk)

    @admin.action(description="Review now", permissions=["review"])
    def review_now_action(self, request, queryset):
        done = 0
        for registration in queryset:
            program_review_run(
                registration=registration, trigger=ReviewTrigger.ADMIN, by=request.user
            )
            done += 1
        self.message_user(request, f"Reviewed: done {done}, skipped 0.")

    def has_review_permission(self, request) -> bool:
        return _can_review(request)

    def sync_view(self, request, pk: int, operation: str):
        registration = get_object_or_404(Registration, pk=pk)
        if request.method != "POST" or not request.user.has_perm(SYNC_PERMISSION):
            raise PermissionDenied
        try:
            if operation == "refresh":
                sync.registration_refresh(registration=registration)
                note = "Refreshed from Twilio."
            elif operation == "submit":
                sync.registration_submit(registration=registration, by=request.user)
                note = "Submitted to Twilio."
            else:
                raise sync.SyncError(f"Unknown operation “{operation}”.")
        except (sync.SyncError, RegistrationError) as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            self.message_user(request, note)
        return redirect("admin:campaigns_registration_change", pk)


# --- snapshots ----------------------------------------------------------------------------------


class SnapshotForm(forms.ModelForm):
    class Meta:
        model = RegistrationSnapshot
        fields = ["registration", *CONTENT_FIELDS]


@admin.register(RegistrationSnapshot)
class RegistrationSnapshotAdmin(admin.ModelAdmin):
    form = SnapshotForm
    list_display = ["__str__", "registration", "status", "use_case", "submitted_at", "problems"]
    list_filter = ["status", "registration"]
    list_select_related = ["registration"]
    actions = ["submit_action", "approve_action"]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_readonly_fields(self, request, obj=None):
        info = ["number", "status", "problem_list", "changes", "submitted_by", "submitted_at"]
        if obj is not None and obj.status != SnapshotStatus.DRAFT:
            return [*info, "registration", *CONTENT_FIELDS]
        return info if obj is None else [*info, "registration"]

    def save_model(self, request, obj, form, change) -> None:
        if not change:
            obj.created_by = request.user
        obj.save()

    @admin.display(description="problems")
    def problems(self, obj: RegistrationSnapshot) -> int:
        return len(obj.findings)

    @admin.display(description="problems found when saved")
    def problem_list(self, obj: RegistrationSnapshot) -> SafeString:
        if not obj.findings:
            return format_html("<p>None.</p>")
        return format_html(
            '<ul class="snapshot-problems">{}</ul>',
            format_html_join(
                "",
                "<li><code>{}</code> ({}) {}: {}</li>",
                ((f["code"], f["severity"], f["field"], f["message"]) for f in obj.findings),
            ),
        )

    @admin.display(description="changes from the snapshot in force")
    def changes(self, obj: RegistrationSnapshot) -> SafeString:
        if obj.pk is None:
            return format_html("-")
        base = obj.registration.approved_snapshot
        if base is None or base.pk == obj.pk:
            base = obj.previous()
        return diff_table(base, obj)

    def _each(self, request, queryset, label: str, call) -> None:
        done = skipped = 0
        problems = []
        for snapshot in queryset:
            try:
                call(snapshot)
                done += 1
            except RegistrationError as exc:
                skipped += 1
                problems.append(str(exc))
        level = messages.SUCCESS if done and not skipped else messages.WARNING
        detail = f" ({'; '.join(problems)})" if problems else ""
        self.message_user(request, f"{label}: done {done}, skipped {skipped}{detail}.", level)

    @admin.action(description="Submit (freeze) the selected drafts", permissions=["change"])
    def submit_action(self, request, queryset):
        self._each(request, queryset, "Submitted", lambda s: s.submit(by=request.user))

    @admin.action(description="Record carrier approval", permissions=["review"])
    def approve_action(self, request, queryset):
        self._each(
            request,
            queryset,
            "Approved",
            lambda s: s.approve(by=request.user, note="Approval recorded in the admin"),
        )

    def has_review_permission(self, request) -> bool:
        return _can_review(request)


# --- reviews and findings -----------------------------------------------------------------------


@admin.register(ProgramReview)
class ProgramReviewAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "trigger",
        "by",
        "messages_seen",
        "raised",
        "open_after",
        "sign_off_state",
    ]
    list_filter = ["trigger", ("signed_off_at", admin.EmptyFieldListFilter), "registration"]
    list_select_related = ["registration", "by", "signed_off_by"]
    date_hierarchy = "started_at"
    change_form_template = "admin/campaigns/programreview/change_form.html"
    change_list_template = "admin/campaigns/programreview/change_list.html"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="sign-off")
    def sign_off_state(self, obj: ProgramReview) -> SafeString:
        if obj.signed_off_at:
            return format_html(
                "signed off {} by {}", admin_date(obj.signed_off_at), obj.signed_off_by
            )
        cadence = obj.registration.cadence if obj.registration else None
        if cadence and obj.started_at + cadence < timezone.now():
            return format_html(
                '<strong class="overdue" style="color:#ba2121">sign-off overdue</strong>'
            )
        return format_html("awaiting sign-off")

    def changelist_view(self, request, extra_context=None):
        extra_context = extra_context or {}
        extra_context["chart"] = line_chart(open_findings_series())
        return super().changelist_view(request, extra_context)

    def get_urls(self):
        return [
            path(
                "<int:pk>/finding/<int:finding_id>/<str:operation>/",
                self.admin_site.admin_view(self.finding_view),
                name="campaigns_programreview_finding",
            ),
            path(
                "<int:pk>/sign-off/",
                self.admin_site.admin_view(self.sign_off_view),
                name="campaigns_programreview_sign_off",
            ),
            path(
                "<int:pk>/prepare/",
                self.admin_site.admin_view(self.prepare_view),
                name="campaigns_programreview_prepare",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        review = get_object_or_404(
            ProgramReview.objects.select_related("registration", "by"), pk=object_id
        )
        if not self.has_view_permission(request, review):
            raise PermissionDenied
        findings = list(
            review.findings_seen.select_related("sender").order_by("status", "severity", "code")
        )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": str(review),
            "review": review,
            "findings": findings,
            "can_review": _can_review(request),
            "has_open": any(f.status == FindingStatus.OPEN for f in findings),
            "has_proposals": any(
                f.proposal and f.status != FindingStatus.RESOLVED for f in findings
            ),
        }
        return TemplateResponse(request, self.change_form_template, context)

    def _post_guard(self, request) -> None:
        if request.method != "POST" or not _can_review(request):
            raise PermissionDenied

    def finding_view(self, request, pk: int, finding_id: int, operation: str):
        self._post_guard(request)
        finding = get_object_or_404(ReviewFinding, pk=finding_id)
        note = request.POST.get("note", "")
        try:
            if operation == "acknowledge":
                finding.acknowledge(by=request.user, note=note)
            elif operation == "resolve":
                finding.resolve(by=request.user, note=note)
            else:
                raise RegistrationError(f"Unknown operation “{operation}”.")
        except RegistrationError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            self.message_user(request, f"Finding #{finding.pk} {finding.get_status_display()}.")
        return redirect("admin:campaigns_programreview_change", pk)

    def sign_off_view(self, request, pk: int):
        self._post_guard(request)
        review = get_object_or_404(ProgramReview, pk=pk)
        try:
            review.sign_off(by=request.user, note=request.POST.get("note", ""))
        except RegistrationError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            self.message_user(request, "Review signed off.")
        return redirect("admin:campaigns_programreview_change", pk)

    def prepare_view(self, request, pk: int):
        self._post_guard(request)
        ids = [int(i) for i in request.POST.getlist("finding") if i.isdigit()]
        try:
            draft = prepare_snapshot(ids, by=request.user)
        except RegistrationError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return redirect("admin:campaigns_programreview_change", pk)
        self.message_user(
            request,
            f"Draft v{draft.number} prepared from {len(ids)} finding(s): check the changes, "
            "then submit it.",
        )
        return redirect("admin:campaigns_registrationsnapshot_change", draft.pk)


@admin.register(ReviewFinding)
class ReviewFindingAdmin(admin.ModelAdmin):
    # Six columns fit beside the navigation at 1280 px; the field and dates are on the finding.
    list_display = ["code", "severity", "status", "registration", "short_detail", "review_link"]
    list_filter = ["code", "severity", "status", "registration"]
    list_select_related = ["registration", "first_review"]
    search_fields = ["detail", "key"]
    actions = ["resolve_action"]
    readonly_fields = [
        "registration",
        "sender",
        "code",
        "severity",
        "field",
        "detail",
        "evidence",
        "risk",
        "suggested_fix",
        "proposal",
        "status",
        "magnitude",
        "note",
        "first_seen_at",
        "last_seen_at",
    ]
    exclude = ["templates", "key", "review"]

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if _can_review(request):
            return queryset
        # Marketing: the findings about templates (its work), not the registration paperwork.
        return queryset.filter(templates__isnull=False).distinct()

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_review_permission(self, request) -> bool:
        return _can_review(request)

    @admin.display(description="detail")
    def short_detail(self, obj: ReviewFinding) -> str:
        return obj.detail if len(obj.detail) <= 90 else obj.detail[:89] + "…"

    def get_list_display(self, request):
        # Staff who may not open program reviews (Marketing) read the review's date, no link.
        if request.user.has_perm("campaigns.view_programreview"):
            return self.list_display
        return [name if name != "review_link" else "review_date" for name in self.list_display]

    @admin.display(description="review")
    def review_link(self, obj: ReviewFinding) -> SafeString:
        """The review the finding came from (later runs that saw it again list it too)."""
        url = reverse("admin:campaigns_programreview_change", args=[obj.first_review_id])
        return format_html('<a href="{}">{}</a>', url, self.review_date(obj))

    @admin.display(description="review")
    def review_date(self, obj: ReviewFinding) -> str:
        return f"#{obj.first_review_id} of {admin_date(obj.first_review.started_at)}"

    @admin.action(description="Mark resolved", permissions=["review"])
    def resolve_action(self, request, queryset):
        done = skipped = 0
        for finding in queryset:
            try:
                finding.resolve(by=request.user, note="Resolved from the findings list")
                done += 1
            except RegistrationError:
                skipped += 1
        self.message_user(request, f"Resolved: done {done}, skipped {skipped}.")


# --- the sender page shows its registrations ----------------------------------------------------


class SenderRegistrationInline(admin.TabularInline):
    model = Registration.senders.through
    fields = ["registration", "registration_status", "in_force"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name = "registration"
    verbose_name_plural = "registrations"

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("registration", "registration__approved_snapshot")
        )

    @admin.display(description="status")
    def registration_status(self, obj) -> str:
        return obj.registration.get_status_display()

    @admin.display(description="in force")
    def in_force(self, obj) -> str:
        snapshot = obj.registration.approved_snapshot
        return f"v{snapshot.number} ({snapshot.use_case})" if snapshot else "none"


class SenderWithRegistrationsAdmin(SenderAdmin):
    inlines = [*SenderAdmin.inlines, SenderRegistrationInline]


admin.site.unregister(Sender)
admin.site.register(Sender, SenderWithRegistrationsAdmin)
