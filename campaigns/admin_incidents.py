"""Incidents in the admin: the list, the evidence, and the form a person resolves one with."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from .incidents import IncidentError, incident_resolve
from .models import Incident, IncidentStatus


class ResolveForm(forms.Form):
    why = forms.CharField(
        label="Why is it safe to go on?",
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="What you checked or changed. Recorded with your name; the campaign resumes.",
    )


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    list_display = ["opened_at", "kind", "about", "shown_rate", "status", "resolved_by"]
    list_filter = ["status", "kind"]
    list_select_related = ["campaign", "sender", "resolved_by"]
    date_hierarchy = None
    change_form_template = "admin/campaigns/incident/change_form.html"
    readonly_fields = [
        "kind",
        "status",
        "campaign",
        "sender",
        "shown_rate",
        "shown_threshold",
        "opened_at",
        "evidence_shown",
        "resolved_at",
        "resolved_by",
        "resolution_note",
    ]
    fields = readonly_fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Campaign or sender")
    def about(self, incident: Incident) -> str:
        return str(incident.campaign or incident.sender)

    @admin.display(description="Rate")
    def shown_rate(self, incident: Incident) -> str:
        return f"{incident.rate:.1%}"

    @admin.display(description="Threshold")
    def shown_threshold(self, incident: Incident) -> str:
        return f"{incident.threshold:.1%}"

    @admin.display(description="Evidence")
    def evidence_shown(self, incident: Incident) -> str:
        return format_html("<pre>{}</pre>", json.dumps(incident.evidence, indent=2))

    def get_urls(self):
        return [
            path(
                "<int:pk>/resolve/",
                self.admin_site.admin_view(self.resolve_view),
                name="campaigns_incident_resolve",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = (extra_context or {}) | {"resolve_form": ResolveForm()}
        return super().change_view(request, object_id, form_url, extra_context)

    def resolve_view(self, request, pk: int):
        incident = get_object_or_404(Incident, pk=pk)
        if not self.has_change_permission(request, incident):
            raise PermissionDenied
        form = ResolveForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                incident_resolve(incident=incident, by=request.user, why=form.cleaned_data["why"])
            except IncidentError as exc:
                messages.error(request, str(exc))
            else:
                resumed = " and the campaign resumed" if incident.campaign_id else ""
                messages.success(request, f"Incident resolved{resumed}.")
            return redirect("admin:campaigns_incident_change", pk)
        return TemplateResponse(
            request,
            "admin/campaigns/incident/resolve.html",
            {
                **self.admin_site.each_context(request),
                "title": f"Resolve: {incident}",
                "incident": incident,
                "form": form,
                "opts": self.model._meta,
                "back": reverse("admin:campaigns_incident_change", args=[pk]),
            },
        )


def open_incident_banner(campaign) -> Incident | None:
    """The campaign's open incident, if any (one indexed look-up)."""
    return campaign.incidents.filter(status=IncidentStatus.OPEN).first()
