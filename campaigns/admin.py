"""Campaign admin: audiences with a live count, campaigns with progress and exclusion charts."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from config.lib.admin_tools import LabelledTabularInline, ReadOnlyAdminMixin
from consent.models import Program, Tag
from consent.phones import InvalidPhoneNumber
from messaging.models import OutboundMessage
from templates.models import TemplateVersion, VersionStatus

from . import evidence_admin  # noqa: F401 (registers the evidence pack admin)
from .admin_audience import audience_preview, audience_preview_view
from .admin_incidents import open_incident_banner
from .admin_launch import launch_view
from .audiences import AudienceFilterError, audience_contacts
from .models import Audience, Campaign, CampaignEvent, CampaignStatus, CampaignVariant
from .selectors import held_by_reason
from .services import (
    PROGRESS_ORDER,
    CampaignError,
    campaign_cancel,
    campaign_launch,
    campaign_pause,
    campaign_progress,
    campaign_resume,
    campaign_send_test,
    launch_problems,
)

COLORS = {
    "queued": "#9aa5b1",
    "held": "#f0b429",
    "sending": "#62b0e8",
    "sent": "#2680c2",
    "delivered": "#27ab83",
    "undelivered": "#e66a6a",
    "failed": "#ba2525",
    "blocked": "#7b8794",
    "cancelled": "#cbd2d9",
}


def progress_bar(counts: dict[str, int]) -> str:
    """A stacked bar of messages by status, with a legend: the campaign's progress at a glance."""
    total = sum(counts.values())
    if not total:
        return mark_safe('<span class="quiet">not fanned out yet</span>')
    done = sum(counts.get(s, 0) for s in counts if s not in ("queued", "held", "sending"))
    segments = format_html_join(
        "",
        '<span title="{}: {}" style="display:inline-block;height:12px;width:{}%;background:{}">'
        "</span>",
        (
            (status, counts[status], f"{100 * counts[status] / total:.2f}", COLORS[status])
            for status in PROGRESS_ORDER
            if counts.get(status)
        ),
    )
    legend = ", ".join(f"{counts[s]} {s}" for s in PROGRESS_ORDER if counts.get(s))
    # The bar is drawn for the eye; its role and values, and the legend, say it in words.
    return format_html(
        '<div class="campaign-progress" role="progressbar" aria-valuemin="0" '
        'aria-valuemax="{}" aria-valuenow="{}" aria-valuetext="{} of {} settled: {}" '
        'aria-label="Messages settled" '
        'style="width:240px;background:#eee;line-height:0">{}</div>'
        '<p class="campaign-progress-legend" style="margin:4px 0 0">{} of {} settled: {}</p>',
        total,
        done,
        done,
        total,
        legend,
        segments,
        done,
        total,
        legend,
    )


def bar_chart(rows: dict[str, int]) -> str:
    if not rows:
        return mark_safe('<span class="quiet">none</span>')
    top = max(rows.values())
    return format_html_join(
        "",
        '<div style="display:flex;align-items:center;gap:8px;margin:2px 0">'
        '<span style="width:170px">{}</span>'
        '<span style="display:inline-block;height:12px;width:{}px;background:#7b8794"></span>'
        "<span>{}</span></div>",
        (
            (reason, int(200 * n / top), n)
            for reason, n in sorted(rows.items(), key=lambda r: -r[1])
        ),
    )


class CampaignChangeList(ChangeList):
    """Loads every listed campaign's progress with one grouped query, not one per row."""

    def get_results(self, request):
        super().get_results(request)
        self.result_list = list(self.result_list)
        counts: dict[int, dict[str, int]] = {c.pk: {} for c in self.result_list}
        rows = (
            OutboundMessage.objects.filter(campaign__in=list(counts))
            .values_list("campaign", "status")
            .annotate(n=Count("id"))
            .order_by()
        )
        for campaign_id, status, n in rows:
            counts[campaign_id][status] = n
        for campaign in self.result_list:
            campaign.progress_counts = counts[campaign.pk]


class VariantInline(LabelledTabularInline):
    """Variants of a draft; read-only once launched. Only approved versions of the campaign's
    program are offered (any program's before the campaign is first saved)."""

    model = CampaignVariant
    extra = 0
    fields = ["label", "template_version", "weight"]

    def get_formset(self, request, obj=None, **kwargs):
        request._variant_program_id = obj.program_id if obj is not None else None
        return super().get_formset(request, obj, **kwargs)

    def _editable(self, obj) -> bool:
        return obj is None or obj.status == CampaignStatus.DRAFT

    def has_add_permission(self, request, obj=None) -> bool:
        return self._editable(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None) -> bool:
        return self._editable(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self._editable(obj) and super().has_delete_permission(request, obj)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "template_version":
            versions = TemplateVersion.objects.filter(status=VersionStatus.APPROVED)
            program_id = getattr(request, "_variant_program_id", None)
            if program_id is not None:
                versions = versions.filter(template__program_id=program_id)
            kwargs["queryset"] = versions.select_related("template")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class TestSendForm(forms.Form):
    # Optional in HTML: the field sits in the change form, whose Save must not require it.
    phone = forms.CharField(
        label="Test phone number",
        max_length=40,
        required=False,
        help_text="Any format. It must have consent too.",
        widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel"}),
    )


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ["name", "program", "status", "progress", "schedule", "launched_at"]
    list_filter = ["status", "program"]
    list_select_related = ["program"]
    search_fields = ["name"]
    filter_horizontal = ["senders"]
    inlines = [VariantInline]
    actions = ["launch_action", "pause_action", "resume_action", "cancel_action"]
    change_form_template = "admin/campaigns/campaign/change_form.html"
    fieldsets = [
        (None, {"fields": ["name", "program", "audience", "senders"]}),
        (
            "When",
            {
                "fields": [
                    "schedule",
                    "send_at",
                    ("local_send_date", "local_send_time"),
                    "throttle_mps",
                ]
            },
        ),
        ("Links", {"fields": ["link_tracking"]}),
    ]

    def get_changelist(self, request, **kwargs):
        return CampaignChangeList

    @admin.display(description="Progress")
    def progress(self, campaign: Campaign) -> str:
        return progress_bar(getattr(campaign, "progress_counts", {}))

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.status != CampaignStatus.DRAFT:
            return [
                "program",
                "audience",
                "senders",
                "schedule",
                "send_at",
                "local_send_date",
                "local_send_time",
            ]
        return []

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def has_delete_permission(self, request, obj=None) -> bool:
        return obj is None or obj.status == CampaignStatus.DRAFT

    def get_urls(self):
        return [
            path(
                "<int:pk>/do/<str:transition>/",
                self.admin_site.admin_view(self.transition_view),
                name="campaigns_campaign_transition",
            ),
            path(
                "<int:pk>/launch/",
                self.admin_site.admin_view(self.launch_step_view),
                name="campaigns_campaign_launch",
            ),
            path(
                "<int:pk>/test-send/",
                self.admin_site.admin_view(self.test_send_view),
                name="campaigns_campaign_test_send",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        campaign = self.get_object(request, object_id)
        extra_context = extra_context or {}
        if campaign is not None:
            progress = campaign_progress(campaign)
            extra_context |= {
                "progress_bar": progress_bar(progress["counts"]),
                "progress": progress,
                "exclusions": bar_chart(campaign.excluded or {}),
                "problems": launch_problems(campaign) if campaign.status == "draft" else [],
                "transitions": self._transitions_for(campaign),
                "history": campaign.events.select_related("by")[:20],
                "test_form": TestSendForm(),
                "held": held_by_reason(campaign),
                "incident": open_incident_banner(campaign),
                "report_url": reverse("admin:report_campaign", args=[campaign.pk]),
            }
        return super().change_view(request, object_id, form_url, extra_context)

    def launch_step_view(self, request, pk: int):
        return launch_view(self, request, pk)

    def _transitions_for(self, campaign: Campaign) -> list[tuple[str, str]]:
        available = {
            CampaignStatus.DRAFT: ["launch", "cancel"],
            CampaignStatus.SCHEDULED: ["pause", "cancel"],
            CampaignStatus.SENDING: ["pause", "cancel"],
            CampaignStatus.PAUSED: ["resume", "cancel"],
        }.get(campaign.status, [])
        return [
            (
                name,
                reverse("admin:campaigns_campaign_launch", args=[campaign.pk])
                if name == "launch"  # a step that shows what will happen, then confirms
                else reverse("admin:campaigns_campaign_transition", args=[campaign.pk, name]),
            )
            for name in available
        ]

    def _apply(self, request, campaign: Campaign, transition: str) -> None:
        by = request.user
        if transition == "launch":
            campaign_launch(campaign=campaign, by=by)
        elif transition == "pause":
            campaign_pause(campaign=campaign, by=by)
        elif transition == "resume":
            campaign_resume(campaign=campaign, by=by)
        elif transition == "cancel":
            campaign_cancel(campaign=campaign, by=by)
        else:
            raise CampaignError(f"Unknown action “{transition}”.")

    def transition_view(self, request, pk: int, transition: str):
        campaign = get_object_or_404(Campaign, pk=pk)
        if request.method != "POST":
            return redirect("admin:campaigns_campaign_change", pk)
        if not self.has_change_permission(request, campaign):
            raise PermissionDenied
        try:
            self._apply(request, campaign, transition)
        except CampaignError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            campaign.refresh_from_db()
            self.message_user(request, f"“{campaign}” is {campaign.get_status_display().lower()}.")
        return redirect("admin:campaigns_campaign_change", pk)

    def test_send_view(self, request, pk: int):
        campaign = get_object_or_404(Campaign, pk=pk)
        if request.method != "POST" or not self.has_change_permission(request, campaign):
            raise PermissionDenied
        form = TestSendForm(request.POST)
        if not form.is_valid() or not form.cleaned_data["phone"].strip():
            self.message_user(request, "Give a phone number.", messages.ERROR)
            return redirect("admin:campaigns_campaign_change", pk)
        try:
            message = campaign_send_test(
                campaign=campaign, phone=form.cleaned_data["phone"], by=request.user
            )
        except (CampaignError, InvalidPhoneNumber, ValidationError) as exc:
            self.message_user(
                request, " ".join(getattr(exc, "messages", [str(exc)])), messages.ERROR
            )
        else:
            if message.status == "blocked":
                self.message_user(
                    request,
                    f"Test not sent: {message.get_status_display()} ({message.reason}).",
                    messages.WARNING,
                )
            else:
                self.message_user(request, f"Test message #{message.pk} queued to {message.to}.")
        return redirect("admin:campaigns_campaign_change", pk)

    def _bulk(self, request, queryset, transition: str, label: str) -> None:
        done = skipped = 0
        for campaign in queryset:
            try:
                self._apply(request, campaign, transition)
                done += 1
            except CampaignError:
                skipped += 1
        self.message_user(
            request,
            f"{label}: done {done}, skipped {skipped}.",
            messages.SUCCESS if done else messages.WARNING,
        )

    @admin.action(description="Launch", permissions=["change"])
    def launch_action(self, request, queryset):
        self._bulk(request, queryset, "launch", "Launch")

    @admin.action(description="Pause", permissions=["change"])
    def pause_action(self, request, queryset):
        self._bulk(request, queryset, "pause", "Pause")

    @admin.action(description="Resume", permissions=["change"])
    def resume_action(self, request, queryset):
        self._bulk(request, queryset, "resume", "Resume")

    @admin.action(description="Cancel", permissions=["change"])
    def cancel_action(self, request, queryset):
        self._bulk(request, queryset, "cancel", "Cancel")


class AudienceForm(forms.ModelForm):
    class Meta:
        model = Audience
        fields = ["name", "description", "filters"]


@admin.register(Audience)
class AudienceAdmin(admin.ModelAdmin):
    form = AudienceForm
    list_display = ["name", "description", "created_at"]
    search_fields = ["name"]
    readonly_fields = ["live_count", "sample"]
    change_form_template = "admin/campaigns/audience/change_form.html"

    def get_urls(self):
        preview = path(
            "preview/",
            self.admin_site.admin_view(self.preview_view),
            name="campaigns_audience_preview",
        )
        return [preview, *super().get_urls()]

    def preview_view(self, request):
        return audience_preview_view(self, request)

    def render_change_form(self, request, context, *args, **kwargs):
        context["builder"] = {
            "preview_url": reverse("admin:campaigns_audience_preview"),
            "programs": list(Program.objects.order_by("slug").values_list("slug", flat=True)),
            "tags": list(Tag.objects.order_by("name").values_list("name", flat=True)[:500]),
        }
        return super().render_change_form(request, context, *args, **kwargs)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def _contacts(self, audience: Audience):
        try:
            return audience_contacts(audience.filters), None
        except AudienceFilterError as exc:
            return None, str(exc)

    @admin.display(description="Contacts matching now")
    def live_count(self, audience: Audience) -> str:
        try:
            preview = audience_preview(audience.filters)
        except AudienceFilterError as exc:
            return str(exc)
        more = "more than " if preview["capped"] else ""
        counts = [f"{more}{preview['count']} contacts"]
        for row in preview["opted_in"]:
            more = "more than " if row["capped"] else ""
            counts.append(f"{more}{row['count']} opted in to {row['program']}")
        return " · ".join(counts)

    @admin.display(description="Sample")
    def sample(self, audience: Audience) -> str:
        contacts, error = self._contacts(audience)
        if error:
            return "—"
        rows = contacts.order_by("-id")[:10]
        return format_html_join(
            "",
            '<div><a href="{}">{}</a></div>',
            ((reverse("admin:consent_contact_change", args=[c.pk]), c) for c in rows),
        )

    def get_fields(self, request, obj=None):
        base = ["name", "description", "filters"]
        return [*base, "live_count", "sample"] if obj else base


@admin.register(CampaignEvent)
class CampaignEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["at", "campaign", "from_status", "to_status", "by", "note"]
    list_select_related = ["campaign", "by"]
    list_filter = ["to_status"]


from . import admin_flows  # noqa: E402, F401 (registers the flow, event and run admins)
from .registrations import admin as registrations_admin  # noqa: E402, F401 (brands, registrations, reviews)
