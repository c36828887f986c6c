"""Flow admin: flows with their trigger, template and recent runs; events and runs read-only.

Compliance reviews the automations here together with the opt-in flow: each flow's list row
shows what sets it off, which approved text goes out, and how often it fired this week.
Events and runs are big tables (a monthly reminder alone writes a run per subscriber): no
counts, pages by primary key, searched by phone.
"""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from config.lib.admin_tools import BigTableAdmin, ReadOnlyAdminMixin, admin_date, admin_time
from consent.admin import PhoneSearchMixin
from templates.models import MessageTemplate, TemplateVersion, VersionStatus

from .flows import OPS, FlowError, flow_set_active
from .models import Flow, FlowEvent, FlowRun
from .selectors import flow_success

RECENT_RUNS = 20
CONDITIONS_HELP = (
    "All must hold. A list of "
    '{"field": "type" or "data.<key>", "op": one of ' + ", ".join(OPS) + ', "value": ...}, '
    'e.g. [{"field": "data.source", "op": "eq", "value": "website"}]. '
    "Times compare as times when written in ISO 8601 with an offset."
)


class FlowForm(forms.ModelForm):
    class Meta:
        model = Flow
        fields = [
            "name",
            "description",
            "active",
            "trigger",
            "conditions",
            "program",
            "template",
            "anchor",
            "offset",
            "max_lateness",
            "success_event",
            "success_replies",
            "success_window",
        ]
        help_texts = {"conditions": CONDITIONS_HELP}
        widgets = {"conditions": forms.Textarea(attrs={"rows": 4, "cols": 80})}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if "template" in self.fields:
            self.fields["template"].queryset = MessageTemplate.objects.select_related("program")
        if "success_window" in self.fields:
            self.fields["success_window"].required = False

    def clean_success_window(self):
        # Blank keeps the default: a flow made before success was measured still saves.
        return (
            self.cleaned_data.get("success_window")
            or Flow._meta.get_field("success_window").get_default()
        )

    # Flow.clean (campaigns.flow_rules.flow_problems) names each problem's field.


@admin.register(Flow)
class FlowAdmin(admin.ModelAdmin):
    form = FlowForm
    list_display = [
        "name",
        "trigger",
        "program",
        "template",
        "approved_version",
        "timing",
        "active",
        "runs_7d",
        "last_run",
    ]
    list_filter = ["active", "program", "trigger"]
    list_select_related = ["program", "template"]
    search_fields = ["name", "trigger", "template__name"]
    actions = ["activate_action", "deactivate_action"]
    readonly_fields = [
        "approved_text",
        "success",
        "recent_runs",
        "created_by",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (None, {"fields": ["name", "description", "active"]}),
        ("When", {"fields": ["trigger", "conditions", "anchor", "offset", "max_lateness"]}),
        ("What", {"fields": ["program", "template", "approved_text"]}),
        ("Success", {"fields": ["success_event", "success_replies", "success_window", "success"]}),
        ("Recent runs", {"fields": ["recent_runs"]}),
        ("History", {"fields": ["created_by", "created_at", "updated_at"]}),
    ]

    def get_queryset(self, request) -> QuerySet[Flow]:
        week_ago = timezone.now() - timedelta(days=7)
        # Subqueries, not a join: each reads one flow's slice of the (flow, created_at) index.
        runs_7d = (
            FlowRun.objects.filter(flow=OuterRef("pk"), created_at__gte=week_ago)
            .order_by()
            .values("flow")
            .annotate(n=Count("pk"))
            .values("n")
        )
        last_run = (
            FlowRun.objects.filter(flow=OuterRef("pk"))
            .order_by("-created_at")
            .values("created_at")[:1]
        )
        approved = TemplateVersion.objects.filter(
            template=OuterRef("template"), status=VersionStatus.APPROVED
        ).values("number")[:1]
        return (
            super()
            .get_queryset(request)
            .annotate(
                runs_7d_count=Subquery(runs_7d),
                last_run_at=Subquery(last_run),
                approved_number=Subquery(approved),
            )
        )

    @admin.display(description="Approved version", ordering="approved_number")
    def approved_version(self, flow: Flow) -> str:
        if flow.approved_number is None:
            return mark_safe('<span style="color:#b42318">none: sends nothing</span>')
        return f"v{flow.approved_number}"

    @admin.display(description="Success rate (30 days)")
    def success(self, flow: Flow) -> str:
        if flow.pk is None:
            return "-"
        result = flow_success(flow, since=timezone.now() - timedelta(days=30))
        if result is None:
            return "Name a success event or replies to see how often this flow works."
        if result.rate is None:
            return "No sends yet."
        return f"{result.rate:.0%}: {result.succeeded:,} of {result.sent:,} sends"

    @admin.display(description="When")
    def timing(self, flow: Flow) -> str:
        return describe_timing(flow)

    @admin.display(description="Runs (7 days)", ordering="runs_7d_count")
    def runs_7d(self, flow: Flow) -> int:
        return flow.runs_7d_count or 0

    @admin.display(description="Last run", ordering="last_run_at")
    def last_run(self, flow: Flow):
        return flow.last_run_at or "—"

    @admin.display(description="Text that goes out (approved version)")
    def approved_text(self, flow: Flow) -> str:
        if flow.pk is None:
            return "—"
        version = flow.template.approved_version
        if version is None:
            return "No approved version: the flow sends nothing until one is approved."
        return format_html(
            '<div style="white-space:pre-wrap;max-width:40em">{}</div>'
            "<small>v{} · approved by {} on {}</small>",
            version.body,
            version.number,
            version.reviewer,
            admin_date(version.reviewed_at),
        )

    @admin.display(description="Last runs")
    def recent_runs(self, flow: Flow) -> str:
        if flow.pk is None:
            return "—"
        runs = flow.runs.select_related("contact", "message").order_by("-id")[:RECENT_RUNS]
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    admin_time(run.created_at),
                    run.contact,
                    run.get_outcome_display(),
                    run.reason or "—",
                    admin_time(run.fire_at),
                    _message_link(run),
                )
                for run in runs
            ),
        )
        if not rows:
            return "No runs yet."
        link = reverse("admin:campaigns_flowrun_changelist") + f"?flow__id__exact={flow.pk}"
        return format_html(
            "<table><thead><tr><th>At</th><th>Contact</th><th>Outcome</th><th>Reason</th>"
            "<th>Due</th><th>Message</th></tr></thead><tbody>{}</tbody></table>"
            '<p><a href="{}">All runs of this flow</a></p>',
            rows,
            link,
        )

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # runs point at it; deactivate instead

    def _set_active(self, request, queryset, *, active: bool, label: str) -> None:
        done = skipped = 0
        refused: list[str] = []
        for flow in queryset.select_related("template"):
            try:
                changed = flow_set_active(flow=flow, active=active)
            except FlowError as exc:
                refused.append(str(exc))
                changed = False
            done += changed
            skipped += not changed
        self.message_user(
            request,
            f"{label}: done {done}, skipped {skipped}." + "".join(f" {r}" for r in refused),
            messages.SUCCESS if done else messages.WARNING,
        )

    @admin.action(description="Activate", permissions=["change"])
    def activate_action(self, request, queryset):
        self._set_active(request, queryset, active=True, label="Activate")

    @admin.action(description="Deactivate", permissions=["change"])
    def deactivate_action(self, request, queryset):
        self._set_active(request, queryset, active=False, label="Deactivate")


def describe_timing(flow: Flow) -> str:
    """ "at once", "3 days after", "1 day before appointment_at" ..."""
    offset = flow.offset or timedelta(0)
    base = flow.anchor or "the event"
    if not offset:
        return "at once" if not flow.anchor else f"at {flow.anchor}"
    amount = abs(offset)
    if amount % timedelta(days=1) == timedelta(0):
        days = amount.days
        words = f"{days} day{'s' if days != 1 else ''}"
    elif amount % timedelta(hours=1) == timedelta(0):
        hours = int(amount.total_seconds() // 3600)
        words = f"{hours} h"
    else:
        words = f"{int(amount.total_seconds() // 60)} min"
    return f"{words} {'before' if offset < timedelta(0) else 'after'} {base}"


def _message_link(run: FlowRun) -> str:
    if run.message_id is None:
        return "—"
    url = reverse("admin:messaging_outboundmessage_change", args=[run.message_id])
    status = run.message.get_status_display() if run.message else "?"
    return format_html('<a href="{}">#{} {}</a>', url, run.message_id, status)


class FlowRunInline(admin.TabularInline):
    """The runs an event caused (a handful: one per flow of its type)."""

    model = FlowRun
    fields = ["flow", "outcome", "reason", "fire_at", "message_status"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("flow", "message")

    @admin.display(description="Message")
    def message_status(self, run: FlowRun) -> str:
        return _message_link(run)

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(FlowEvent)
class FlowEventAdmin(ReadOnlyAdminMixin, PhoneSearchMixin, BigTableAdmin):
    phone_lookup = "contact__phone"
    list_display = ["id", "type", "contact", "occurred_at", "received_at", "client"]
    list_select_related = ["contact", "client"]
    search_fields = ["=type"]
    search_help_text = "A phone number in any format, or an exact event type (lead.created)."
    ordering = ["-id"]
    inlines = [FlowRunInline]
    fields = ["type", "contact", "occurred_at", "received_at", "client", "data"]


@admin.register(FlowRun)
class FlowRunAdmin(ReadOnlyAdminMixin, PhoneSearchMixin, BigTableAdmin):
    phone_lookup = "contact__phone"
    list_display = [
        "id",
        "created_at",
        "flow",
        "contact",
        "outcome",
        "reason",
        "fire_at",
        "message_status",
    ]
    list_filter = ["outcome", "flow"]
    list_select_related = ["flow", "contact", "message"]
    search_fields = ["=reason"]
    search_help_text = "A phone number in any format, or an exact reason (too_late)."
    ordering = ["-id"]
    fields = [
        "flow",
        "event",
        "contact",
        "created_at",
        "fire_at",
        "outcome",
        "reason",
        "template_version",
        "message",
    ]

    @admin.display(description="Message")
    def message_status(self, run: FlowRun) -> str:
        return _message_link(run)
