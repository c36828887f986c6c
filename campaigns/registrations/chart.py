"""A small server-side SVG line chart of open findings over time (no JavaScript, no CDN)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from .models import ProgramReview


def open_findings_series(*, days: int = 90, now: datetime | None = None) -> list[tuple[date, int]]:
    """Per day, the open findings of all registrations: each one's last review of that day
    (or before) counts, so a day without a review carries the previous figure forward."""
    now = now or timezone.now()
    start = (now - timedelta(days=days)).date()
    rows = (
        ProgramReview.objects.filter(started_at__gte=now - timedelta(days=days))
        .order_by("started_at", "id")
        .values_list("registration_id", "started_at", "open_after")
    )
    by_day: dict[date, dict[int | None, int]] = {}
    for registration_id, started_at, open_after in rows:
        by_day.setdefault(timezone.localdate(started_at), {})[registration_id] = open_after
    if not by_day:
        return []
    series, latest = [], {}
    day = max(start, min(by_day))
    while day <= now.date():
        latest.update(by_day.get(day, {}))
        series.append((day, sum(latest.values())))
        day += timedelta(days=1)
    return series


def line_chart(
    series: list[tuple[date, int]], *, width: int = 640, height: int = 160
) -> SafeString:
    if not series:
        return mark_safe('<p id="open-findings-chart">No reviews yet.</p>')
    left, bottom, top, right = 36, 22, 10, 10
    top_value = max(max(v for _, v in series), 1)
    span = max(len(series) - 1, 1)

    def x(i: int) -> float:
        return left + (width - left - right) * i / span

    def y(v: int) -> float:
        return top + (height - top - bottom) * (1 - v / top_value)

    points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, (_, v) in enumerate(series))
    dots = format_html_join(
        "",
        '<circle cx="{}" cy="{}" r="2.5" fill="#205067"><title>{}: {} open</title></circle>',
        ((f"{x(i):.1f}", f"{y(v):.1f}", d.isoformat(), v) for i, (d, v) in enumerate(series)),
    )
    first, last = series[0], series[-1]
    label = (
        f"Open findings from {first[0].isoformat()} ({first[1]}) "
        f"to {last[0].isoformat()} ({last[1]})"
    )
    return format_html(
        '<svg id="open-findings-chart" role="img" aria-label="{label}" width="100%" '
        'viewBox="0 0 {w} {h}" preserveAspectRatio="xMinYMin meet" style="max-width:{w}px">'
        "<title>{label}</title>"
        '<line x1="{l}" y1="{b}" x2="{r}" y2="{b}" stroke="#767676"/>'
        '<line x1="{l}" y1="{t}" x2="{l}" y2="{b}" stroke="#767676"/>'
        '<text x="{tl}" y="{ty}" font-size="11" text-anchor="end" fill="#333">{top_value}</text>'
        '<text x="{tl}" y="{b}" font-size="11" text-anchor="end" fill="#333">0</text>'
        '<text x="{l}" y="{h}" font-size="11" fill="#333">{d0}</text>'
        '<text x="{r}" y="{h}" font-size="11" text-anchor="end" fill="#333">{d1}</text>'
        '<polyline fill="none" stroke="#205067" stroke-width="2" points="{points}"/>{dots}</svg>',
        label=label,
        w=width,
        h=height - 4,
        l=left,
        r=width - right,
        t=top,
        b=height - bottom,
        tl=left - 4,
        ty=top + 8,
        top_value=top_value,
        d0=first[0].isoformat(),
        d1=last[0].isoformat(),
        points=points,
        dots=dots,
    )
