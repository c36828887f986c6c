"""The report pages of the admin (see `config.reports` for what they show and how)."""

from __future__ import annotations

from django.contrib.admin import AdminSite
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse

from campaigns.models import Campaign
from consent.models import Program

from . import reports

#: (url name, title, permission) of each report, in the navigation's order.
REPORTS = [
    ("report_program", "Program overview", "messaging.view_outboundmessage"),
    ("report_campaigns", "Campaign reports", "campaigns.view_campaign"),
    ("report_flows", "Flow report", "campaigns.view_flow"),
    ("report_senders", "Sender health", "messaging.view_sender"),
]


def report_links(request: HttpRequest, site: AdminSite) -> list[tuple[str, str]]:
    return [
        (title, reverse(f"admin:{name}", current_app=site.name))
        for name, title, permission in REPORTS
        if request.user.has_perm(permission)
    ]


def _guard(request: HttpRequest, permission: str) -> None:
    if not request.user.has_perm(permission):
        raise PermissionDenied


def _page(site, request, template: str, title: str, **context) -> TemplateResponse:
    return TemplateResponse(
        request,
        template,
        {
            **site.each_context(request),
            "title": title,
            "reports": report_links(request, site),
            "csv_url": f"?{_with_format(request)}",
            **context,
        },
    )


def _with_format(request: HttpRequest) -> str:
    query = request.GET.copy()
    query["format"] = "csv"
    return query.urlencode()


def _wants_csv(request: HttpRequest) -> bool:
    return request.GET.get("format") == "csv"


def program_view(site, request: HttpRequest) -> HttpResponse:
    _guard(request, "messaging.view_outboundmessage")
    period, error = reports.period_from(request)
    programs = list(Program.objects.order_by("name"))
    chosen = request.GET.get("program", "")
    program = next((p for p in programs if str(p.pk) == chosen), None)
    data = reports.program_overview(program, period)
    if _wants_csv(request):
        keys = ["sent", "delivered", "delivery_rate", "failures", "filtered", "filtered_share",
                "opt_outs", "opt_out_rate", "replies", "reply_rate", "clicks_human",
                "clicks_bot", "human_click_rate", "conversions", "revenue", "cost",
                "cost_per_delivered"]  # fmt: skip
        return reports.csv_response(
            f"program-overview-{period.since}-{period.until}.csv",
            ["day", *keys],
            ([row["day"].isoformat(), *(row[k] for k in keys)] for row in data["rows"]),
        )
    return _page(
        site,
        request,
        "reports/program.html",
        "Program overview",
        period=period,
        error=error,
        programs=programs,
        program=program,
        **data,
    )


def campaigns_view(site, request: HttpRequest) -> HttpResponse:
    _guard(request, "campaigns.view_campaign")
    campaigns = Campaign.objects.exclude(status="draft").select_related("program")
    return _page(
        site,
        request,
        "reports/campaigns.html",
        "Campaign reports",
        campaigns=campaigns.order_by("-launched_at")[:200],
    )


def campaign_view(site, request: HttpRequest, pk: int) -> HttpResponse:
    _guard(request, "campaigns.view_campaign")
    campaign = get_object_or_404(Campaign.objects.select_related("program"), pk=pk)
    data = reports.campaign_report(campaign)
    if _wants_csv(request):
        metric = data["comparison"].metric_label
        rows = [["funnel", label, n, ""] for label, n in data["funnel"]]
        rows += [["excluded", reason, n, ""] for reason, n in data["excluded"]]
        rows += [["errors", f"error {e['code']}", e["count"], e["share"]] for e in data["errors"]]
        rows += [
            ["variant", f"{r['label']} {metric}", r["successes"], r["rate"]]
            for r in data["comparison"].rows
        ]
        rows += [["cost", "cost", data["figures"]["cost"], ""]]
        rows += [["opt_outs", "opt-outs caused", data["figures"]["opt_outs"], ""]]
        return reports.csv_response(f"campaign-{campaign.pk}.csv", ["part", "what", "n", "rate"],
                                    rows)  # fmt: skip
    return _page(
        site,
        request,
        "reports/campaign.html",
        f"Campaign report: {campaign}",
        campaign=campaign,
        **data,
    )


def flows_view(site, request: HttpRequest) -> HttpResponse:
    _guard(request, "campaigns.view_flow")
    period, error = reports.period_from(request)
    data = reports.flow_report(period)
    if _wants_csv(request):
        return reports.csv_response(
            f"flows-{period.since}-{period.until}.csv",
            [
                "flow",
                "runs",
                "sends",
                "not sent",
                "not sent by reason",
                "sent",
                "delivery rate",
                "human click rate",
                "successes",
                "success rate",
            ],
            (
                [
                    r["flow"].name,
                    r["runs"],
                    r["sends"],
                    r["not_sent"],
                    "; ".join(f"{kind} {reason}: {n}" for reason, kind, n in r["skipped"]),
                    r["sent"],
                    r["delivery_rate"],
                    r["human_click_rate"],
                    r["successes"],
                    r["success_rate"],
                ]
                for r in data["rows"]
            ),
        )
    return _page(
        site, request, "reports/flows.html", "Flow report", period=period, error=error, **data
    )


def senders_view(site, request: HttpRequest) -> HttpResponse:
    _guard(request, "messaging.view_sender")
    period, error = reports.period_from(request)
    day = period.until
    data = reports.sender_health(day)
    if _wants_csv(request):
        return reports.csv_response(
            f"sender-health-{day}.csv",
            [
                "sender",
                "sent",
                "delivery rate",
                "7-day baseline",
                "change",
                "top errors",
                "open incidents",
            ],
            (
                [
                    r["sender"].name,
                    r["sent"],
                    r["delivery_rate"],
                    r["baseline_rate"],
                    r["change"],
                    "; ".join(f"{e['code']}: {e['count']}" for e in r["errors"]),
                    len(r["incidents"]),
                ]
                for r in data["rows"]
            ),
        )
    return _page(
        site, request, "reports/senders.html", "Sender health", day=day, error=error, **data
    )


def report_urls(site) -> list:
    def view(func):
        return site.admin_view(lambda request, **kw: func(site, request, **kw))

    return [
        path("reports/program/", view(program_view), name="report_program"),
        path("reports/campaigns/", view(campaigns_view), name="report_campaigns"),
        path("reports/campaigns/<int:pk>/", view(campaign_view), name="report_campaign"),
        path("reports/flows/", view(flows_view), name="report_flows"),
        path("reports/senders/", view(senders_view), name="report_senders"),
    ]
