"""Senders, outbound messages (each with its decision log), quiet-hours rules, reassigned checks."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.html import format_html

from config.lib.admin_tools import BigTableAdmin, ReadOnlyAdminMixin
from consent.admin import PhoneSearchMixin

from ..models import (
    MessageEvent,
    OutboundMessage,
    QuietHoursRule,
    ReassignedNumberCheck,
    Sender,
)
from ..reassigned import configuration_warning


@admin.register(Sender)
class SenderAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "phone_number",
        "messaging_service_sid",
        "kind",
        "keyword_answerer",
        "mps",
        "daily_segment_cap",
        "active",
    ]
    list_filter = ["kind", "active"]
    search_fields = ["name", "phone_number", "messaging_service_sid"]
    filter_horizontal = ["programs"]
    fieldsets = [
        (None, {"fields": ["name", "phone_number", "messaging_service_sid", "kind", "programs"]}),
        ("Sending", {"fields": ["mps", "daily_segment_cap", "active"]}),
        (
            "STOP, HELP and START",
            {
                "description": "On long codes and toll-free numbers Twilio answers exact "
                "keywords itself and blocks the number on STOP before we hear of it; we then "
                "record the opt-out and send nothing. Choose “Us” only when STOP filtering is "
                "turned off at the provider (some short codes).",
                "fields": [
                    "keyword_replies",
                    "provider_stop_text",
                    "provider_help_text",
                    "provider_start_text",
                ],
            },
        ),
    ]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="answers STOP/HELP/START")
    def keyword_answerer(self, sender: Sender) -> str:
        return "Provider" if sender.provider_answers_keywords else "Us"


class MessageEventInline(admin.TabularInline):
    model = MessageEvent
    fields = ["at", "kind", "reason", "error_code", "data"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["at", "id"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(OutboundMessage)
class OutboundMessageAdmin(ReadOnlyAdminMixin, PhoneSearchMixin, BigTableAdmin):
    """The decision log: every message, sent or not, and why."""

    phone_lookup = "contact__phone"  # through the contact's unique index
    phone_suffix_lookup = "contact__phone"
    list_display = [
        "id",
        "to",
        "program",
        "kind",
        "campaign",
        "status_badge",
        "reason",
        "sent_at",
        "error_code",
    ]
    list_filter = ["status", "kind", "program", "reason"]
    list_select_related = ["program", "campaign"]
    search_fields = ["=provider_sid"]
    search_help_text = "A phone number in any format, or a provider SID."
    inlines = [MessageEventInline]
    fieldsets = [
        (None, {"fields": ["contact", "to", "sender", "program", "message_type", "kind"]}),
        (
            "Content",
            {"fields": ["template_version", "campaign", "variant", "body", "encoding", "segments"]},
        ),
        (
            "Outcome",
            {
                "fields": [
                    "status",
                    "reason",
                    "provider_sid",
                    "error_code",
                    "error_message",
                    "attempts",
                    "next_attempt_at",
                    "sent_at",
                    "delivered_at",
                    "price",
                    "price_unit",
                ]
            },
        ),
    ]

    @admin.display(description="Status", ordering="status")
    def status_badge(self, message: OutboundMessage) -> str:
        colors = {
            "delivered": "#1b7f3b",
            "sent": "#2680c2",
            "failed": "#b42318",
            "undelivered": "#b42318",
            "blocked": "#7b8794",
            "held": "#9a6700",
        }
        return format_html(
            '<span style="color:{}">{}</span>',
            colors.get(message.status, "inherit"),
            message.get_status_display(),
        )

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in OutboundMessage._meta.fields]


@admin.register(QuietHoursRule)
class QuietHoursRuleAdmin(admin.ModelAdmin):
    list_display = [
        "jurisdiction",
        "start",
        "end",
        "sunday_start",
        "no_sundays",
        "no_holidays",
        "frequency_cap_24h",
        "effective_from",
        "effective_to",
        "confirmed",
        "active",
    ]
    list_filter = ["confirmed", "active", "marketing_only"]
    search_fields = ["jurisdiction", "source"]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # end a rule with effective_to: the history stays


@admin.register(ReassignedNumberCheck)
class ReassignedNumberCheckAdmin(ReadOnlyAdminMixin, PhoneSearchMixin, BigTableAdmin):
    list_display = ["checked_at", "phone", "date_asked", "answer", "source"]
    list_filter = ["answer", "source"]
    search_fields = ["=phone"]

    def changelist_view(self, request, extra_context=None):
        """Say so when look-ups cannot answer (not configured, 60606, 60607, outages)."""
        if warning := configuration_warning():
            messages.warning(request, warning)
        return super().changelist_view(request, extra_context)
