"""Incoming messages and status callbacks: read-only records of what the provider sent us.

Both are big tables: no counts (`BigTableAdmin`), ordered by primary key (an index), searched by
phone number in any format or by exact provider SID.
"""

from __future__ import annotations

import json

from django.contrib import admin
from django.urls import NoReverseMatch, path, reverse
from django.utils.html import format_html

from config.lib.admin_tools import BigTableAdmin, ReadOnlyAdminMixin
from consent.admin import PhoneSearchMixin

from ..models import InboundMessage, StatusCallback
from .simulate import simulate_view


class ReadOnlyAdmin(ReadOnlyAdminMixin, BigTableAdmin):
    """A big read-only table whose rows carry the raw request as received."""

    @admin.display(description="Raw (as received)")
    def raw_pretty(self, obj) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.raw, indent=1, sort_keys=True))


def _short(text: str, size: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= size else text[: size - 1] + "…"


@admin.register(InboundMessage)
class InboundMessageAdmin(PhoneSearchMixin, ReadOnlyAdmin):
    phone_lookup = "from_number"
    list_display = [
        "received_at",
        "from_number",
        "to_number",
        "body_short",
        "intent",
        "matched",
        "reply_short",
        "contact_link",
    ]
    list_filter = ["intent", "sender"]
    list_select_related = ["sender"]
    search_fields = ["=provider_sid"]
    search_help_text = "A phone number in any format (who wrote), or an exact MessageSid."
    ordering = ["-id"]
    fields = [
        "provider_sid",
        "received_at",
        "handled_at",
        "from_number",
        "to_number",
        "sender",
        "contact",
        "body",
        "intent",
        "matched",
        "reply",
        "conversation",
        "raw_pretty",
    ]
    readonly_fields = fields

    def get_urls(self):
        simulate = path(
            "simulate/",
            self.admin_site.admin_view(simulate_view),
            name="messaging_inboundmessage_simulate",
        )
        return [simulate, *super().get_urls()]

    @admin.display(description="Message")
    def body_short(self, message: InboundMessage) -> str:
        return _short(message.body)

    @admin.display(description="Reply")
    def reply_short(self, message: InboundMessage) -> str:
        return _short(message.reply) or "—"

    @admin.display(description="Contact")
    def contact_link(self, message: InboundMessage) -> str:
        if not message.contact_id:
            return "—"
        url = reverse("admin:consent_contact_change", args=[message.contact_id])
        return format_html('<a href="{}">#{}</a>', url, message.contact_id)


@admin.register(StatusCallback)
class StatusCallbackAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "provider_sid", "status", "error_code", "message_link"]
    list_filter = ["status"]
    search_fields = ["=provider_sid"]
    search_help_text = "An exact MessageSid."
    ordering = ["-id"]
    fields = ["provider_sid", "status", "error_code", "received_at", "message", "raw_pretty"]
    readonly_fields = fields

    @admin.display(description="Message")
    def message_link(self, callback: StatusCallback) -> str:
        if not callback.message_id:
            return "unknown SID"
        try:  # the outbound message admin lives in messaging.admin.outbound
            url = reverse("admin:messaging_outboundmessage_change", args=[callback.message_id])
        except NoReverseMatch:
            return f"#{callback.message_id}"
        return format_html('<a href="{}">#{}</a>', url, callback.message_id)
