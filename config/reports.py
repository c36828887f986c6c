"""Reports in the admin: program overview, campaign report, flow report, sender health.

Every figure comes from the daily counters (`messaging.counters`), summed over a range of days
on their (scope, key, day) index: a page costs the same with ten thousand messages or ten
million. Each report is a page with a server-side SVG chart (a title, a description and the same
figures as a table beside it, for screen readers and for people who prefer numbers) and the same
tables as CSV (`?format=csv`).

Rates (all over the period's sends, on the day each message was sent):
delivery rate = delivered / sent; failure rate = (failed + undelivered) / (sent + refused at
hand-off); 30007 share = messages filtered by carriers (error 30007) / sent; opt-out rate =
opt-outs / sent; reply rate = replies / sent; human click rate = human clicks / delivered;
cost per delivered = cost / delivered.

Variants are compared with `significance.compare_variants` (docs/reports.md).
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import Sum
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from campaigns.models import Campaign, Flow, Incident, IncidentStatus
from config.lib.significance import compare_variants
from consent.models import Program
from messaging.counters import MICROS
from messaging.models import DailyCount, Sender

DEFAULT_DAYS = 28
MAX_DAYS = 366
BASELINE_DAYS = 7
FILTERED = "error:30007"


@dataclass(frozen=True)
class Period:
    since: date
    until: date

    @property
    def days(self) -> list[date]:
        return [self.since + timedelta(days=n) for n in range((self.until - self.since).days + 1)]

    @property
    def previous(self) -> Period:
        length = (self.until - self.since).days + 1
        return Period(self.since - timedelta(days=length), self.since - timedelta(days=1))

    def __str__(self) -> str:
        return f"{self.since:%d %b %Y} to {self.until:%d %b %Y}"


def period_from(request: HttpRequest) -> tuple[Period, str]:
    """The period asked for (?since=YYYY-MM-DD&until=...), else the last 28 days; and an error
    to show when the request's dates are unusable (the default is used instead)."""
    today = timezone.now().date()
    default = Period(today - timedelta(days=DEFAULT_DAYS - 1), today)
    since, until = request.GET.get("since"), request.GET.get("until")
    if not since and not until:
        return default, ""
    try:
        start = date.fromisoformat(since) if since else default.since
        end = date.fromisoformat(until) if until else today
    except ValueError:
        return default, "Dates must read YYYY-MM-DD; showing the last 28 days."
    if start > end or (end - start).days >= MAX_DAYS:
        return default, f"Choose a start before the end, at most {MAX_DAYS} days apart."
    return Period(start, end), ""


# --- Reading the counters --------------------------------------------------------------------


def by_day(scope: str, keys: Iterable[int] | None, period: Period) -> dict[date, dict[str, int]]:
    """{day: {metric: n}} summed over the keys (all of the scope when None)."""
    rows = DailyCount.objects.filter(scope=scope, day__gte=period.since, day__lte=period.until)
    if keys is not None:
        rows = rows.filter(key__in=list(keys))
    out: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for day, metric, n in (
        rows.values_list("day", "metric").annotate(n=Sum("count")).order_by().iterator()
    ):
        out[day][metric] += n
    return out


def by_key(scope: str, keys: Iterable[int] | None, period: Period) -> dict[int, dict[str, int]]:
    """{key: {metric: n}} over the period."""
    rows = DailyCount.objects.filter(scope=scope, day__gte=period.since, day__lte=period.until)
    if keys is not None:
        rows = rows.filter(key__in=list(keys))
    out: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for key, metric, n in rows.values_list("key", "metric").annotate(n=Sum("count")).order_by():
        out[key][metric] += n
    return out


def summed(days: dict[date, dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = defaultdict(int)
    for metrics in days.values():
        for metric, n in metrics.items():
            total[metric] += n
    return total


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def figures(m: dict[str, int]) -> dict[str, float | int | None]:
    """The overview's figures from one set of counts (module docstring)."""
    sent, delivered = m.get("sent", 0), m.get("delivered", 0)
    failures = m.get("failed", 0) + m.get("undelivered", 0)
    cost = m.get("cost_micros", 0) / MICROS
    return {
        "sent": sent,
        "delivered": delivered,
        "delivery_rate": _ratio(delivered, sent),
        "failures": failures,
        "failure_rate": _ratio(failures, sent + m.get("rejected", 0)),
        "filtered_share": _ratio(m.get(FILTERED, 0), sent),
        "opt_outs": m.get("opt_outs", 0),
        "opt_out_rate": _ratio(m.get("opt_outs", 0), sent),
        "replies": m.get("replies", 0),
        "reply_rate": _ratio(m.get("replies", 0), sent),
        "clicks_human": m.get("clicks_human", 0),
        "clicks_bot": m.get("clicks_bot", 0),
        "human_click_rate": _ratio(m.get("clicks_human", 0), delivered),
        "conversions": m.get("conversions", 0),
        "revenue": m.get("revenue_micros", 0) / MICROS,
        "cost": cost,
        "cost_per_delivered": _ratio(cost, delivered),
    }


#: (key, label, kind) of the overview's figures; kind says how to show it.
OVERVIEW = [
    ("sent", "Sent", "int"),
    ("delivery_rate", "Delivery rate", "pct"),
    ("failures", "Failed or undelivered", "int"),
    ("filtered_share", "Carrier filtering (30007) share", "pct"),
    ("opt_out_rate", "Opt-out rate", "pct"),
    ("reply_rate", "Reply rate", "pct"),
    ("human_click_rate", "Human click rate", "pct"),
    ("conversions", "Conversions", "int"),
    ("revenue", "Revenue", "money"),
    ("cost_per_delivered", "Cost per delivered message", "money4"),
]


def shown(value, kind: str) -> str:
    if value is None:
        return "—"
    if kind == "pct":
        return f"{value:.1%}"
    if kind == "money":
        return f"{value:,.2f}"
    if kind == "money4":
        return f"{value:,.4f}"
    return f"{value:,}"


def errors_table(m: dict[str, int]) -> list[dict]:
    """Failures by error code, most first, with each code's share of the failures."""
    codes = {k.split(":", 1)[1]: n for k, n in m.items() if k.startswith("error:") and n}
    total = sum(codes.values())
    return [
        {"code": code, "count": n, "share": n / total}
        for code, n in sorted(codes.items(), key=lambda item: (-item[1], item[0]))
    ]


# --- Charts ------------------------------------------------------------------------------------


def bar_chart(
    *,
    chart_id: str,
    title: str,
    labels: list[str],
    series: list[tuple[str, str, list[float]]],
    value_format: str = "int",
) -> str:
    """Grouped bars as inline SVG (no script, no network) with a title and a description.

    `series`: (label, colour, one value per label). The page shows the same figures in a table.
    """
    width, height, left, bottom, top = 720, 220, 48, 40, 14
    plot_h = height - bottom - top
    groups = max(len(labels), 1)
    group_w = (width - left) / groups
    bar_w = max(2.0, (group_w - 4) / max(len(series), 1))
    peak = max([max(values, default=0) for _, _, values in series] + [0]) or 1
    bars, ticks = [], []
    step = max(1, groups // 14)  # at most ~14 labels under the axis
    for i, label in enumerate(labels):
        x0 = left + i * group_w + 2
        for j, (name, colour, values) in enumerate(series):
            value = values[i] if i < len(values) else 0
            h = plot_h * (value or 0) / peak
            bars.append(
                (
                    f"{x0 + j * bar_w:.1f}",
                    f"{top + plot_h - h:.1f}",
                    f"{max(bar_w - 1, 1):.1f}",
                    f"{h:.1f}",
                    colour,
                    f"{name}, {label}: {shown(value, value_format)}",
                )
            )
        if i % step == 0:
            ticks.append((f"{x0 + group_w / 2:.1f}", height - bottom + 14, label))
    totals = "; ".join(
        f"{name}: {shown(sum(v or 0 for v in values), value_format)} in all"
        if value_format == "int"
        else f"{name}: from {shown(min(values, default=0), value_format)} "
        f"to {shown(max(values, default=0), value_format)}"
        for name, _, values in series
    )
    legend = format_html_join(
        "",
        '<rect x="{}" y="{}" width="10" height="10" fill="{}"/>'
        '<text x="{}" y="{}" font-size="11" fill="currentColor">{}</text>',
        (
            (left + k * 170, height - 12, colour, left + k * 170 + 14, height - 3, name)
            for k, (name, colour, _) in enumerate(series)
        ),
    )
    return format_html(
        '<svg class="report-chart" id="{id}" viewBox="0 0 {w} {h}" width="100%" role="img" '
        'aria-labelledby="{id}-title {id}-desc" preserveAspectRatio="xMinYMin meet">'
        '<title id="{id}-title">{title}</title><desc id="{id}-desc">{desc}</desc>'
        '<line x1="{left}" y1="{base}" x2="{w}" y2="{base}" stroke="currentColor" '
        'stroke-opacity=".4"/>'
        '<text x="{lx}" y="{ty}" font-size="11" text-anchor="end" fill="currentColor">{peak}'
        "</text>"
        '<text x="{lx}" y="{base}" font-size="11" text-anchor="end" fill="currentColor">0</text>'
        "{bars}{ticks}{legend}</svg>",
        id=chart_id,
        w=width,
        h=height,
        left=left,
        lx=left - 4,
        base=top + plot_h,
        ty=top + 8,
        peak=shown(peak, value_format),
        title=title,
        desc=totals or "No data in this period.",
        bars=format_html_join(
            "",
            '<rect class="bar" x="{}" y="{}" width="{}" height="{}" fill="{}">'
            "<title>{}</title></rect>",
            bars,
        ),
        ticks=format_html_join(
            "",
            '<text x="{}" y="{}" font-size="10" text-anchor="middle" fill="currentColor">{}</text>',
            ticks,
        ),
        legend=legend,
    )


# --- The reports -------------------------------------------------------------------------------


def program_overview(program: Program | None, period: Period) -> dict:
    keys = [program.pk] if program else None
    current = by_day("program", keys, period)
    previous = summed(by_day("program", keys, period.previous))
    now_total = summed(current)
    now_figures, before = figures(now_total), figures(previous)
    rows = []
    for day in period.days:
        f = figures(current.get(day, {}))
        rows.append({"day": day, **f, "filtered": current.get(day, {}).get(FILTERED, 0)})
    kpis = [
        {
            "label": label,
            "now": shown(now_figures[key], kind),
            "before": shown(before[key], kind),
            "change": _change(now_figures[key], before[key], kind),
        }
        for key, label, kind in OVERVIEW
    ]
    chart = bar_chart(
        chart_id="overview-chart",
        title=f"Sent and delivered per day, {period}",
        labels=[f"{d:%d %b}" for d in period.days],
        series=[
            ("Sent", "#2680c2", [r["sent"] for r in rows]),
            ("Delivered", "#27ab83", [r["delivered"] for r in rows]),
            ("Failed or undelivered", "#ba2525", [r["failures"] for r in rows]),
        ],
    )
    return {
        "kpis": kpis,
        "rows": rows,
        "errors": errors_table(now_total),
        "chart": chart,
        "totals": now_figures,
    }


def _change(now, before, kind: str) -> str:
    if now is None or before is None:
        return "—"
    if kind == "pct":
        return f"{(now - before) * 100:+.1f} pts"
    if not before:
        return "new" if now else "—"
    return f"{(now - before) / before:+.0%}"


def campaign_report(campaign: Campaign) -> dict:
    start = (campaign.launched_at or campaign.created_at).date()
    period = Period(min(start, timezone.now().date()), timezone.now().date())
    totals = summed(by_day("campaign", [campaign.pk], period))
    excluded = {reason: n for reason, n in (campaign.excluded or {}).items() if n}
    delivered = totals.get("delivered", 0)
    funnel = [
        ("Targeted", totals.get("targeted", 0)),
        ("Excluded", sum(excluded.values())),
        ("Sent", totals.get("sent", 0)),
        ("Delivered", delivered),
        ("Clicked (human clicks)", totals.get("clicks_human", 0)),
        ("Converted", totals.get("conversions", 0)),
    ]
    chart = bar_chart(
        chart_id="funnel-chart",
        title=f"Funnel of “{campaign}”",
        labels=[label.split(" (")[0] for label, _ in funnel],
        series=[("Messages or people", "#2680c2", [n for _, n in funnel])],
    )
    variants = list(campaign.variants.select_related("template_version").order_by("label"))
    per_variant = by_key("variant", [v.pk for v in variants], period)
    comparison = compare_variants(
        [(v.label, per_variant.get(v.pk, {})) for v in variants],
    )
    rows = []
    for v in variants:
        m = per_variant.get(v.pk, {})
        f = figures(m)
        rows.append(
            {
                "label": v.label,
                "version": str(v.template_version),
                **f,
                "conversion_rate": _ratio(m.get("conversions", 0), delivered_or(m)),
            }
        )
    variant_chart = bar_chart(
        chart_id="variant-chart",
        title=f"Variants of “{campaign}”: {comparison.metric_label}",
        labels=[f"Variant {r['label']}" for r in rows],
        series=[(comparison.metric_label, "#27ab83", [r["rate"] for r in comparison.rows])],
        value_format="pct",
    )
    return {
        "period": period,
        "funnel": funnel,
        "excluded": sorted(excluded.items(), key=lambda item: -item[1]),
        "figures": figures(totals),
        "errors": errors_table(totals),
        "chart": chart,
        "variants": rows,
        "comparison": comparison,
        "variant_chart": variant_chart,
    }


def delivered_or(m: dict[str, int]) -> int:
    return m.get("delivered", 0)


def flow_report(period: Period) -> dict:
    flows = list(Flow.objects.select_related("program").order_by("name"))
    per_flow = by_key("flow", [f.pk for f in flows], period)
    rows = []
    tracked = False
    for flow in flows:
        m = per_flow.get(flow.pk, {})
        skipped = sorted(
            ((k.split(":", 1)[1], k.split(":", 1)[0][4:], n) for k, n in m.items() if ":" in k),
            key=lambda item: -item[2],
        )
        # A flow that names its success has a rate (0% before its first); one that named it
        # once keeps the rate its successes were counted for.
        named = bool(flow.success_event or flow.success_replies) or "flow_success" in m
        tracked = tracked or named
        handed = figures(m)  # its messages, counted under the flow at hand-off
        rows.append(
            {
                "flow": flow,
                "runs": m.get("runs", 0),
                "sends": m.get("run_queued", 0),
                "sent": handed["sent"],
                "delivery_rate": handed["delivery_rate"],
                "human_click_rate": handed["human_click_rate"],
                "skipped": skipped,
                "not_sent": sum(n for _, _, n in skipped),
                "successes": m.get("flow_success", 0),
                "success_rate": _ratio(m.get("flow_success", 0), m.get("run_queued", 0))
                if named
                else None,
            }
        )
    days = by_day("flow", [f.pk for f in flows], period)
    chart = bar_chart(
        chart_id="flow-chart",
        title=f"Flow runs and sends per day, {period}",
        labels=[f"{d:%d %b}" for d in period.days],
        series=[
            ("Runs", "#9aa5b1", [days.get(d, {}).get("runs", 0) for d in period.days]),
            ("Sends", "#2680c2", [days.get(d, {}).get("run_queued", 0) for d in period.days]),
        ],
    )
    return {"rows": rows, "chart": chart, "success_tracked": tracked}


def sender_health(day: date) -> dict:
    """Each sender's delivery rate and error mix on `day` against the 7 days before it."""
    senders = list(Sender.objects.order_by("name"))
    today = by_key("sender", [s.pk for s in senders], Period(day, day))
    baseline_period = Period(day - timedelta(days=BASELINE_DAYS), day - timedelta(days=1))
    baseline = by_key("sender", [s.pk for s in senders], baseline_period)
    incidents = defaultdict(list)
    for incident in Incident.objects.filter(status=IncidentStatus.OPEN, sender__isnull=False):
        incidents[incident.sender_id].append(incident)
    rows = []
    for sender in senders:
        now, before = today.get(sender.pk, {}), baseline.get(sender.pk, {})
        f_now, f_before = figures(now), figures(before)
        change = (
            f_now["delivery_rate"] - f_before["delivery_rate"]
            if f_now["delivery_rate"] is not None and f_before["delivery_rate"] is not None
            else None
        )
        rows.append(
            {
                "sender": sender,
                "sent": f_now["sent"],
                "delivery_rate": f_now["delivery_rate"],
                "baseline_rate": f_before["delivery_rate"],
                "change": change,
                "errors": errors_table(now)[:5],
                "baseline_errors": errors_table(before)[:5],
                "incidents": incidents.get(sender.pk, []),
                "worse": change is not None and change < -0.05,
            }
        )
    chart = bar_chart(
        chart_id="sender-chart",
        title=f"Delivery rate by sender on {day:%d %b %Y} against the 7 days before",
        labels=[r["sender"].name for r in rows],
        series=[
            ("On the day", "#2680c2", [r["delivery_rate"] or 0 for r in rows]),
            ("7-day baseline", "#9aa5b1", [r["baseline_rate"] or 0 for r in rows]),
        ],
        value_format="pct",
    )
    return {"rows": rows, "chart": chart, "baseline": baseline_period}


# --- CSV ----------------------------------------------------------------------------------------


def csv_response(filename: str, header: list[str], rows: Iterable[Iterable]) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else _plain(v) for v in row])
    return response


def _plain(value):
    if isinstance(value, float):
        return f"{value:.6g}"
    return value
