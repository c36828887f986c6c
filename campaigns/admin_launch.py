"""The launch step: what launching will do (`campaigns.launch.launch_summary`), then a confirm
button that calls `campaign_launch`, the one entry point every launch goes through."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse

from .launch import launch_summary
from .models import Campaign, CampaignStatus
from .services import CampaignError, campaign_launch


def launch_view(model_admin, request: HttpRequest, pk: int):
    campaign = get_object_or_404(Campaign.objects.select_related("program", "audience"), pk=pk)
    if not model_admin.has_change_permission(request, campaign):
        raise PermissionDenied
    if campaign.status != CampaignStatus.DRAFT:
        model_admin.message_user(
            request, f"“{campaign}” is {campaign.get_status_display().lower()}.", messages.INFO
        )
        return redirect("admin:campaigns_campaign_change", pk)
    if request.method == "POST":
        try:
            campaign = campaign_launch(campaign=campaign, by=request.user)
        except CampaignError as exc:
            model_admin.message_user(request, str(exc), messages.ERROR)
            return redirect("admin:campaigns_campaign_launch", pk)
        campaign.refresh_from_db()
        model_admin.message_user(
            request, f"“{campaign}” is {campaign.get_status_display().lower()}."
        )
        return redirect("admin:campaigns_campaign_change", pk)
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"Launch “{campaign}”?",
        "opts": model_admin.model._meta,
        "original": campaign,
        "summary": launch_summary(campaign),
    }
    return TemplateResponse(request, "admin/campaigns/campaign/launch.html", context)
