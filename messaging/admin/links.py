"""Tracked links, their clicks and conversions: read-only, big tables (no counts)."""

from __future__ import annotations

from django.contrib import admin

from config.lib.admin_tools import BigTableAdmin, ReadOnlyAdminMixin

from ..models import Click, Conversion, TrackedLink


@admin.register(TrackedLink)
class TrackedLinkAdmin(ReadOnlyAdminMixin, BigTableAdmin):
    list_display = ["id", "destination", "program", "campaign", "variant", "flow", "utm"]
    list_select_related = ["program", "campaign", "variant", "flow"]
    search_fields = ["=id", "destination"]
    ordering = ["-id"]
    fields = ["destination", "program", "campaign", "variant", "flow", "utm", "utm_campaign",
              "utm_content", "created_at"]  # fmt: skip
    readonly_fields = fields


@admin.register(Click)
class ClickAdmin(ReadOnlyAdminMixin, BigTableAdmin):
    list_display = ["clicked_at", "human", "bot_reason", "link", "message_id", "contact_id",
                    "seconds_since_delivery", "ip"]  # fmt: skip
    list_filter = ["bot_reason"]
    list_select_related = ["link"]
    search_fields = ["=message__id"]
    search_help_text = "A message id."
    ordering = ["-id"]
    fields = ["clicked_at", "bot_reason", "link", "message", "contact", "campaign", "variant",
              "flow", "seconds_since_delivery", "ip", "user_agent"]  # fmt: skip
    readonly_fields = fields

    @admin.display(description="Human", boolean=True)
    def human(self, click: Click) -> bool:
        return not click.bot_reason


@admin.register(Conversion)
class ConversionAdmin(ReadOnlyAdminMixin, BigTableAdmin):
    list_display = ["occurred_at", "order_id", "value", "currency", "attribution", "campaign",
                    "contact_id"]  # fmt: skip
    list_filter = ["attribution", "currency"]
    list_select_related = ["campaign"]
    search_fields = ["=order_id"]
    ordering = ["-id"]
    fields = ["order_id", "contact", "value", "currency", "occurred_at", "received_at",
              "attribution", "click", "message", "program", "campaign", "variant",
              "flow"]  # fmt: skip
    readonly_fields = fields
