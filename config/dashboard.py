"""The home page's figures and its list of pages, per persona.

`week_figures` counts the last 7 days (sent, delivered, opt-outs, replies), each a date range
on an index of its own (`sent_at`, `delivered_at`, `received_at`, the ledger's
(kind, occurred_at)), by day in the staff member's time zone. A series reads at most
`EXACT_CAP` index entries: a quieter week is counted exactly, a busier one (on PostgreSQL) is
the planner's estimate per day (from the column statistics, no scan), shown as "about". The
cost never follows the size of the table nor a busy week's traffic. (Daily counters kept in
the transaction of each event would make every figure exact at the same cost; when they exist,
`_per_day` should read them instead.) `week_chart` draws them as an inline SVG (no script).

`task_sections` orders the admin's pages by task (Marketing, Compliance, Support, Partners),
each link shown only to staff whose permissions open it; internals (the task queue, raw status
callbacks) are listed for superusers only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.contrib.admin import AdminSite
from django.db import connection
from django.db.models import Count, QuerySet
from django.db.models.functions import TruncDate
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from consent.models import ConsentEvent, ConsentKind
from messaging.models import InboundMessage, OutboundMessage

DAYS = 7
#: Index entries a series reads at most before it switches to the planner's estimates.
EXACT_CAP = 20_000

#: Sections of the home page: (title, [(app_label, model_name, label), ...]) in task order.
TASKS: list[tuple[str, list[tuple[str, str, str]]]] = [
    ("Marketing", [
        ("templates", "messagetemplate", "Message templates"),
        ("templates", "templateversion", "Template versions"),
        ("campaigns", "campaign", "Campaigns"),
        ("campaigns", "audience", "Audiences"),
        ("campaigns", "flow", "Flows"),
    ]),
    ("Compliance", [
        ("templates", "reviewqueueitem", "Approvals: template review queue"),
        ("messaging", "revocationreview", "Approvals: revocation reviews"),
        ("consent", "consentevent", "Consent ledger and exports"),
        ("consent", "suppression", "Suppressions"),
        ("consent", "program", "Programs"),
        ("consent", "disclosure", "Disclosures"),
        ("messaging", "quiethoursrule", "Quiet hours rules"),
        ("messaging", "reassignednumbercheck", "Reassigned-number checks"),
        ("messaging", "operatoralert", "Operator alerts"),
        ("campaigns", "incident", "Incidents (paused campaigns, flagged senders)"),
    ]),
    ("Support", [
        ("consent", "contact", "Contacts"),
        ("messaging", "conversation", "Conversations"),
        ("messaging", "inboundmessage", "Inbound messages"),
        ("messaging", "outboundmessage", "Outbound messages"),
    ]),
    ("Partners and sending", [
        ("messaging", "sender", "Senders"),
        ("messaging", "apiclient", "API clients"),
        ("messaging", "webhooksubscription", "Webhook subscriptions"),
        ("messaging", "webhookdelivery", "Webhook deliveries"),
    ]),
]  # fmt: skip
#: Pages only superusers see on the home page and in the navigation.
INTERNAL_APPS = {"django_q"}
INTERNAL_MODELS = {("messaging", "statuscallback"), ("messaging", "messageevent")}


@dataclass(frozen=True)
class Series:
    key: str
    label: str
    color: str
    by_day: dict[date, int]
    estimated: bool = False  # the planner's estimate per day, not a count

    @property
    def total(self) -> int:
        return sum(self.by_day.values())


def _days(today: date) -> list[date]:
    return [today - timedelta(days=n) for n in range(DAYS - 1, -1, -1)]


def _estimate(qs: QuerySet) -> int:
    """PostgreSQL's estimate of the rows `qs` matches (EXPLAIN reads statistics, not rows)."""
    plan = json.loads(qs.order_by().explain(format="json"))
    return int(plan[0]["Plan"]["Plan Rows"])


def _per_day(qs: QuerySet, field: str, since: datetime, tz) -> tuple[dict[date, int], bool]:
    """({day: rows}, estimated) for the days from `since`; exact up to EXACT_CAP rows."""
    window = qs.filter(**{f"{field}__gte": since}).order_by()
    if connection.vendor == "postgresql":
        read = window.values(field)[: EXACT_CAP + 1].count()  # index-only, bounded
        if read > EXACT_CAP:
            by_day = {}
            for day in _days(timezone.localdate()):
                start = datetime.combine(day, time.min, tzinfo=tz)
                end = start + timedelta(days=1)
                by_day[day] = _estimate(qs.filter(**{f"{field}__gte": start, f"{field}__lt": end}))
            return by_day, True
    rows = (
        window.annotate(day=TruncDate(field, tzinfo=tz))
        .values_list("day")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return dict(rows), False


def week_figures(request: HttpRequest) -> list[Series]:
    """The last 7 days (today included, staff member's zone), per day, for what they may see."""
    user = request.user
    tz = timezone.get_current_timezone()
    today = timezone.localdate()
    since = datetime.combine(today - timedelta(days=DAYS - 1), time.min, tzinfo=tz)
    series = []
    if user.has_perm("messaging.view_outboundmessage"):
        sent = OutboundMessage.objects.filter(sent_at__isnull=False)
        delivered = OutboundMessage.objects.filter(delivered_at__isnull=False)
        series += [
            Series("sent", "Sent", "#2680c2", *_per_day(sent, "sent_at", since, tz)),
            Series(
                "delivered",
                "Delivered",
                "#27ab83",
                *_per_day(delivered, "delivered_at", since, tz),
            ),
        ]
    if user.has_perm("consent.view_consentevent"):
        opt_outs = ConsentEvent.objects.filter(kind=ConsentKind.OPT_OUT)
        series.append(
            Series("opt_outs", "Opt-outs", "#ba2525", *_per_day(opt_outs, "occurred_at", since, tz))
        )
    if user.has_perm("messaging.view_inboundmessage"):
        series.append(
            Series(
                "replies",
                "Replies",
                "#f0b429",
                *_per_day(InboundMessage.objects.all(), "received_at", since, tz),
            )
        )
    return series


def week_chart(series: list[Series]) -> str:
    """Grouped bars per day as inline SVG, with a title and a description for screen readers."""
    if not series:
        return ""
    today = timezone.localdate()
    days = _days(today)
    width, height, left, bottom, top = 640, 200, 40, 28, 12
    plot_h = height - bottom - top
    group_w = (width - left) / len(days)
    bar_w = max(4.0, (group_w - 12) / len(series))
    peak = max([max(s.by_day.values(), default=0) for s in series] + [1])
    bars, labels = [], []
    for i, day in enumerate(days):
        x0 = left + i * group_w + 6
        for j, s in enumerate(series):
            n = s.by_day.get(day, 0)
            h = plot_h * n / peak
            bars.append(
                (
                    f"{x0 + j * bar_w:.1f}",
                    f"{top + plot_h - h:.1f}",
                    f"{bar_w - 1:.1f}",
                    f"{h:.1f}",
                    s.color,
                    f"{s.label} {day:%a %d %b}: {'about ' if s.estimated else ''}{n}",
                )
            )
        labels.append((f"{x0 + group_w / 2 - 6:.1f}", height - 10, f"{day:%a %d}"))
    summary = "; ".join(f"{s.label} {'about ' if s.estimated else ''}{s.total}" for s in series)
    return format_html(
        '<svg class="week-chart" viewBox="0 0 {w} {h}" width="100%" role="img" '
        'aria-labelledby="week-chart-title week-chart-desc" preserveAspectRatio="xMinYMin meet">'
        '<title id="week-chart-title">Last 7 days, per day</title>'
        '<desc id="week-chart-desc">{summary}</desc>'
        '<line x1="{left}" y1="{base}" x2="{w}" y2="{base}" stroke="currentColor" '
        'stroke-opacity=".4"/>'
        '<text x="{lx}" y="{ty}" font-size="11" text-anchor="end" fill="currentColor">{peak}</text>'
        '<text x="{lx}" y="{base}" font-size="11" text-anchor="end" fill="currentColor">0</text>'
        "{bars}{labels}</svg>",
        w=width,
        h=height,
        left=left,
        lx=left - 4,
        base=top + plot_h,
        ty=top + 8,
        peak=peak,
        summary=summary,
        bars=format_html_join(
            "",
            '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}</title></rect>',
            bars,
        ),
        labels=format_html_join(
            "",
            '<text x="{}" y="{}" font-size="11" text-anchor="middle" fill="currentColor">{}</text>',
            labels,
        ),
    )


def is_internal(app_label: str, model_name: str) -> bool:
    return app_label in INTERNAL_APPS or (app_label, model_name) in INTERNAL_MODELS


def task_sections(
    site: AdminSite, request: HttpRequest, reports: list[tuple[str, str]] | None = None
) -> list[dict]:
    """[{"title", "links": [(label, url)]}] for the pages this staff member may open, the
    sections of their own groups first; `reports` (label, url) make a "Reports" section."""
    registry = {
        (model._meta.app_label, model._meta.model_name): admin
        for model, admin in site._registry.items()
    }
    sections = []
    tasks = list(TASKS)
    if request.user.is_superuser:
        internals = [
            (model._meta.app_label, model._meta.model_name, str(model._meta.verbose_name_plural))
            for model in site._registry
            if is_internal(model._meta.app_label, model._meta.model_name)
        ]
        tasks.append(("Internals (superusers)", sorted(internals)))
    for title, entries in tasks:
        links = []
        for app_label, model_name, label in entries:
            model_admin = registry.get((app_label, model_name))
            if model_admin is None or not model_admin.has_view_or_change_permission(request):
                continue
            try:
                url = reverse(f"admin:{app_label}_{model_name}_changelist", current_app=site.name)
            except NoReverseMatch:
                continue
            links.append((label[:1].upper() + label[1:], url))
        if links:
            sections.append({"title": title, "links": links})
    if reports:
        sections.append({"title": "Reports", "links": reports})
    # The staff member's own groups' tasks first (a support agent starts with Support).
    own = set(request.user.groups.values_list("name", flat=True))
    return sorted(sections, key=lambda section: section["title"] not in own)
