"""Home page items of the messaging app: revocation reviews due, conversations waiting for an
answer, failing partner webhooks. Each query is bounded and served by an index."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from config.lib.attention import AttentionItem, attention_provider, bounded_count

from .models import (
    Conversation,
    OperatorAlert,
    RevocationReview,
    WebhookDelivery,
    WebhookSubscription,
)
from .models.partners import DeliveryStatus


@attention_provider(order=20)
def revocation_reviews_due(request) -> list[AttentionItem]:
    if not request.user.has_perm("messaging.change_revocationreview"):
        return []
    now = timezone.now()
    pending = RevocationReview.objects.filter(status=RevocationReview.Status.PENDING)  # partial
    url = reverse("admin:messaging_revocationreview_changelist")
    overdue, overdue_capped = bounded_count(pending.filter(deadline__lt=now))
    soon, soon_capped = bounded_count(
        pending.filter(deadline__gte=now, deadline__lt=now + timedelta(days=2))
    )
    later, later_capped = bounded_count(pending.filter(deadline__gte=now + timedelta(days=2)))
    return [
        AttentionItem(
            "Revocation reviews overdue", overdue, f"{url}?due=overdue",
            "possible opt-outs past their deadline: decide now", "urgent", overdue_capped,
        ),
        AttentionItem(
            "Revocation reviews due within 2 days", soon, f"{url}?due=2days",
            "", "warning", soon_capped,
        ),
        AttentionItem(
            "Revocation reviews pending", later, f"{url}?status__exact=pending",
            "", "info", later_capped,
        ),
    ]  # fmt: skip


@attention_provider(order=30)
def conversations_waiting(request) -> list[AttentionItem]:
    user = request.user
    if not user.has_perm("messaging.change_conversation"):
        return []
    open_ = Conversation.objects.filter(status=Conversation.Status.OPEN)  # (status, ...) index
    url = reverse("admin:messaging_conversation_changelist") + "?status__exact=open"
    mine, mine_capped = bounded_count(open_.filter(assignee=user))
    nobody, nobody_capped = bounded_count(open_.filter(assignee__isnull=True))
    return [
        AttentionItem(
            "Open conversations assigned to you", mine, f"{url}&assignee=me",
            "", "warning", mine_capped,
        ),
        AttentionItem(
            "Open conversations nobody has taken", nobody, f"{url}&assignee=none",
            "", "warning", nobody_capped,
        ),
    ]  # fmt: skip


@attention_provider(order=50)
def failing_webhooks(request) -> list[AttentionItem]:
    if not request.user.has_perm("messaging.view_webhooksubscription"):
        return []
    subscriptions = WebhookSubscription.objects.filter(
        Q(disabled_at__isnull=False) | Q(consecutive_failures__gt=0), active=True
    ).order_by("name")[:5]  # few rows: one per partner URL
    lines = tuple(
        f"{s.name}: disabled ({s.disabled_reason or 'too many failures'})"
        if s.disabled_at
        else f"{s.name}: {s.consecutive_failures} failed attempt(s) in a row"
        for s in subscriptions
    )
    disabled = sum(1 for s in subscriptions if s.disabled_at)
    # Deliveries being retried: pending rows (partial index) that already failed once.
    retrying, capped = bounded_count(
        WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, attempts__gt=0)
    )
    items = []
    if lines:
        items.append(
            AttentionItem(
                "Partner webhooks failing",
                len(lines),
                reverse("admin:messaging_webhooksubscription_changelist"),
                f"{disabled} disabled" if disabled else "retrying",
                "urgent" if disabled else "warning",
                lines=lines,
            )
        )
    items.append(
        AttentionItem(
            "Webhook deliveries being retried",
            retrying,
            reverse("admin:messaging_webhookdelivery_changelist") + "?status__exact=pending",
            "",
            "warning",
            capped,
        )
    )
    return items


@attention_provider(order=5)
def open_operator_alerts(request) -> list[AttentionItem]:
    if not request.user.has_perm("messaging.view_operatoralert"):
        return []
    open_ = OperatorAlert.objects.filter(status=OperatorAlert.Status.OPEN)
    count, capped = bounded_count(open_)
    latest = open_.order_by("-last_seen").first() if count else None
    return [
        AttentionItem(
            "Operator alerts open",
            count,
            reverse("admin:messaging_operatoralert_changelist") + "?status__exact=open",
            str(latest) if latest else "",
            "urgent",
            capped,
        )
    ]
