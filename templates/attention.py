"""Home page items of the templates app: versions waiting for my review (four eyes: not my own)."""

from __future__ import annotations

from django.urls import reverse

from config.lib.attention import AttentionItem, attention_provider, bounded_count

from .models import TemplateVersion, VersionStatus


@attention_provider(order=10)
def versions_awaiting_my_review(request) -> list[AttentionItem]:
    user = request.user
    if not user.has_perm("templates.review_templateversion"):
        return []
    # The (status, submitted_at) index serves this.
    waiting = TemplateVersion.objects.filter(status=VersionStatus.PENDING_REVIEW).exclude(
        author=user
    )
    count, capped = bounded_count(waiting)
    oldest = waiting.order_by("submitted_at").values_list("submitted_at", flat=True).first()
    return [
        AttentionItem(
            title="Template versions awaiting your review",
            count=count,
            capped=capped,
            url=reverse("admin:templates_reviewqueueitem_changelist"),
            detail=f"oldest submitted {oldest:%Y-%m-%d %H:%M %Z}" if oldest else "",
            severity="warning",
        )
    ]


@attention_provider(order=15)
def my_versions_in_review(request) -> list[AttentionItem]:
    """For authors: their own versions waiting for someone else (they cannot approve them)."""
    user = request.user
    if not user.has_perm("templates.add_templateversion"):
        return []
    mine = TemplateVersion.objects.filter(status=VersionStatus.PENDING_REVIEW, author=user)
    count, capped = bounded_count(mine)
    return [
        AttentionItem(
            title="Your template versions waiting for a reviewer",
            count=count,
            capped=capped,
            url=reverse("admin:templates_templateversion_changelist")
            + f"?status__exact=pending_review&author__id__exact={user.pk}",
        )
    ]
