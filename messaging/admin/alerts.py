"""Operator alerts in the admin: newest first, open ones on top of the filter, acknowledge."""

from __future__ import annotations

from django.contrib import admin, messages

from messaging.models import OperatorAlert


@admin.register(OperatorAlert)
class OperatorAlertAdmin(admin.ModelAdmin):
    list_display = ["last_seen", "kind", "subject", "count", "status", "first_seen", "detail"]
    list_filter = ["status", "kind"]
    list_select_related = ["acknowledged_by"]
    search_fields = ["subject"]
    search_help_text = "What the alert is about, e.g. a phone number in E.164 (+18335550100)."
    readonly_fields = [
        "kind",
        "subject",
        "detail",
        "status",
        "first_seen",
        "last_seen",
        "count",
        "acknowledged_at",
        "acknowledged_by",
    ]
    actions = ["acknowledge"]

    def has_add_permission(self, request) -> bool:
        return False  # alerts are raised by the system

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # the record of what was seen

    @admin.action(description="Acknowledge selected alerts", permissions=["change"])
    def acknowledge(self, request, queryset) -> None:
        done = sum(1 for alert in queryset if alert.acknowledge(by=request.user))
        skipped = len(queryset) - done
        self.message_user(
            request,
            f"Acknowledged {done}, skipped {skipped} (already acknowledged).",
            messages.SUCCESS if done else messages.WARNING,
        )
