"""Home page item of the core app: operator alerts still open (the status index serves it)."""

from __future__ import annotations

from django.urls import reverse

from home.attention import AttentionItem, attention_provider, bounded_count

from .models import OperatorAlert


@attention_provider(order=5)
def open_operator_alerts(request) -> list[AttentionItem]:
    if not request.user.has_perm("core.view_operatoralert"):
        return []
    open_ = OperatorAlert.objects.filter(status=OperatorAlert.Status.OPEN)
    count, capped = bounded_count(open_)
    latest = open_.order_by("-last_seen").first() if count else None
    return [
        AttentionItem(
            "Operator alerts open",
            count,
            reverse("admin:core_operatoralert_changelist") + "?status__exact=open",
            str(latest) if latest else "",
            "urgent",
            capped,
        )
    ]
