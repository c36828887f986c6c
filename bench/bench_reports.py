"""Print how long each report page takes with counters for ten million messages.

    createdb -h 127.0.0.1 -U postgres b_t16_reports_bench
    DATABASE_URL=postgres://postgres@127.0.0.1/b_t16_reports_bench \\
        .venv/bin/python bench/bench_reports.py

Reports read the daily counters only, so what a page costs depends on the counter rows, not on
the message table. The bench writes (set-based SQL) counters equivalent to `BENCH_MESSAGES`
(10,000,000) messages sent over the last year: 5 programs and 20 senders with a row per day and
metric, 400 campaigns of 25,000 messages (two variants each, three days of sends), 20 flows with
daily runs, and, for the last two days, unsquashed rows as the minute between two squashes
leaves them. Beside them it writes `BENCH_CONTACTS` (200,000) contacts with their consent ledger
(bench_can_message's generator) and one fanned-out campaign of a message each, marked delivered,
so the message table is not empty (the pages must not read it: the bench counts their queries
on it). Timed (median and max of BENCH_RUNS, in-process test client, superuser): each report,
its CSV, and the program overview over a full year.

Goal: each page <= 300 ms.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from bench_can_message import generate, require_scratch_postgres  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from campaigns.fanout import fanout_all  # noqa: E402
from campaigns.models import Audience, Campaign, CampaignVariant, Flow  # noqa: E402
from consent.models import Program  # noqa: E402
from messaging.models import DailyCount, Sender  # noqa: E402
from tests.factories import create_approved_version, create_template, create_user  # noqa: E402

MESSAGES = int(os.environ.get("BENCH_MESSAGES", 10_000_000))
CONTACTS = int(os.environ.get("BENCH_CONTACTS", 200_000))
RUNS = int(os.environ.get("BENCH_RUNS", 7))
DAYS = 365
CAMPAIGNS = 400
SENDERS = 20
FLOWS = 20
PROGRAMS = 5
BODY = "Acme: hi {first_name|there}, 20% off at https://acme.example/sale Reply STOP to opt out"

#: metric -> share of sent (per row); sent itself is the row's base figure.
SHARES = {
    "sent": 1.0, "segments": 1.1, "cost_micros": 8300 * 1.1, "delivered": 0.95,
    "undelivered": 0.03, "failed": 0.02, "error:30007": 0.02, "error:30003": 0.02,
    "error:30005": 0.01, "opt_outs": 0.004, "replies": 0.03, "clicks_human": 0.06,
    "clicks_bot": 0.01, "conversions": 0.008, "revenue_micros": 0.008 * 45_000_000,
}  # fmt: skip

COUNTERS_SQL = """
INSERT INTO messaging_dailycount (day, scope, key, metric, count, is_squashed)
SELECT d.day, %(scope)s, k.key, m.metric,
       GREATEST(1, round(%(per_row)s * m.share * (0.8 + 0.4 * random())))::bigint, TRUE
FROM unnest(%(keys)s::bigint[]) AS k(key)
CROSS JOIN (SELECT (current_date - g)::date AS day FROM generate_series(0, %(days)s - 1) g) d
CROSS JOIN unnest(%(metrics)s::text[], %(shares)s::float8[]) AS m(metric, share)
"""
UNSQUASHED_SQL = """
INSERT INTO messaging_dailycount (day, scope, key, metric, count, is_squashed)
SELECT (current_date - (g %% 2))::date, scope, key, metric, 1, FALSE
FROM (SELECT DISTINCT scope, key, metric FROM messaging_dailycount
      WHERE day = current_date) keys
CROSS JOIN generate_series(1, %(rows)s) g
"""
SPREAD_SQL = """
    UPDATE messaging_outboundmessage
    SET status = 'delivered', provider_sid = 'SMbench' || id, sent_at = now(),
        delivered_at = now() + interval '5 seconds'
    WHERE status = 'queued'
"""


def counters(scope: str, keys: list[int], days: int, per_row: float) -> None:
    metrics, shares = list(SHARES), list(SHARES.values())
    with connection.cursor() as cursor:
        cursor.execute(
            COUNTERS_SQL,
            {"scope": scope, "keys": keys, "days": days, "per_row": per_row,
             "metrics": metrics, "shares": shares},
        )  # fmt: skip


def timed(label: str, call) -> float:
    seconds, scans, queries = [], 0, 0
    for _ in range(RUNS):
        with CaptureQueriesContext(connection) as captured:
            start = time.perf_counter()
            response = call()
            seconds.append(time.perf_counter() - start)
        assert response.status_code == 200, response.status_code
        queries = len(captured)
        scans = sum("messaging_outboundmessage" in q["sql"] for q in captured.captured_queries)
    median = 1000 * statistics.median(seconds)
    print(
        f"  {label:<40} median {median:7.1f} ms, max {1000 * max(seconds):7.1f} ms, "
        f"{queries} queries ({scans} on the message table)"
    )
    return median


def main() -> None:
    require_scratch_postgres("its consent, campaign, messaging and counter tables are emptied")
    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE campaigns_campaign, campaigns_audience, campaigns_flow, "
            "templates_messagetemplate, messaging_dailycount, messaging_messageevent, "
            "messaging_outboundmessage, messaging_inboundmessage, auth_user CASCADE"
        )
    print(f"Generating {CONTACTS:,} contacts and their consent ledger ...")
    program = generate(CONTACTS)
    owner = create_user(f"bench{time.time_ns()}", superuser=True)
    version = create_approved_version(
        create_template(program, owner=owner, name=f"Bench {time.time_ns()}"), body=BODY
    )
    sender, _ = Sender.objects.get_or_create(
        phone_number="+18335550100", defaults={"name": "Bench 00", "mps": 100}
    )
    sender.programs.add(program)
    senders = [sender] + [
        Sender.objects.create(name=f"Bench {n:02d}", phone_number=f"+1833555{n:04d}", mps=10)
        for n in range(1, SENDERS)
    ]
    programs = [program] + [
        Program.objects.get_or_create(slug=f"bench-{n}", defaults={"name": f"Bench {n}"})[0]
        for n in range(1, PROGRAMS)
    ]
    audience = Audience.objects.create(name="Everyone", filters={})
    start = time.perf_counter()
    fanned = Campaign.objects.create(
        name="Fanned out", program=program, audience=audience, created_by=owner, status="sending"
    )
    fanned.senders.add(sender)
    CampaignVariant.objects.create(campaign=fanned, label="A", template_version=version)
    fanout_all(fanned)
    with connection.cursor() as cursor:
        cursor.execute(SPREAD_SQL)
    print(f"  {CONTACTS:,} messages written in {time.perf_counter() - start:.1f} s")

    start = time.perf_counter()
    now = timezone.now()
    campaigns = Campaign.objects.bulk_create(
        Campaign(name=f"Campaign {n}", program=program, audience=audience, created_by=owner,
                 status="completed", launched_at=now - timezone.timedelta(days=n % 300))
        for n in range(CAMPAIGNS)
    )  # fmt: skip
    variants = CampaignVariant.objects.bulk_create(
        CampaignVariant(campaign=c, label=label, template_version=version)
        for c in campaigns
        for label in "AB"
    )
    flows = Flow.objects.bulk_create(
        Flow(name=f"Flow {n}", trigger="lead.created", program=program, template=version.template)
        for n in range(FLOWS)
    )
    per_day_program = MESSAGES / DAYS / PROGRAMS
    counters("program", [p.pk for p in programs], DAYS, per_day_program)
    counters("sender", [s.pk for s in senders], DAYS, MESSAGES / DAYS / SENDERS)
    per_campaign_day = MESSAGES / CAMPAIGNS / 3
    counters("campaign", [c.pk for c in campaigns], 3, per_campaign_day)
    counters("variant", [v.pk for v in variants], 3, per_campaign_day / 2)
    counters("template_version", [c.pk for c in campaigns], 3, per_campaign_day)
    counters("flow", [f.pk for f in flows], DAYS, 200)
    with connection.cursor() as cursor:
        cursor.execute(UNSQUASHED_SQL, {"rows": 20})
        cursor.execute("VACUUM ANALYZE")
    rows = DailyCount.objects.count()
    sent = sum(
        DailyCount.objects.filter(scope="program", metric="sent").values_list("count", flat=True)
    )
    print(
        f"  {rows:,} counter rows ({sent:,} messages sent by the programs' counters) in "
        f"{time.perf_counter() - start:.1f} s"
    )

    client = Client()
    client.force_login(owner)
    campaign = campaigns[0]
    print(f"Timing ({RUNS} runs each):")
    results = [
        timed("program overview, all, 28 days", lambda: client.get("/admin/reports/program/")),
        timed(
            "program overview, one program, 28 days",
            lambda: client.get("/admin/reports/program/", {"program": program.pk}),
        ),
        timed(
            "program overview, all, 365 days",
            lambda: client.get(
                "/admin/reports/program/",
                {"since": str(now.date() - timezone.timedelta(days=364)), "until": str(now.date())},
            ),
        ),
        timed(
            "program overview CSV, 365 days",
            lambda: client.get(
                "/admin/reports/program/",
                {"since": str(now.date() - timezone.timedelta(days=364)), "format": "csv"},
            ),
        ),
        timed("campaign list", lambda: client.get("/admin/reports/campaigns/")),
        timed(
            "campaign report (funnel, variants)",
            lambda: client.get(f"/admin/reports/campaigns/{campaign.pk}/"),
        ),
        timed("flow report, 28 days", lambda: client.get("/admin/reports/flows/")),
        timed("sender health", lambda: client.get("/admin/reports/senders/")),
    ]
    print(f"Slowest median: {max(results):.1f} ms (goal <= 300 ms)")


if __name__ == "__main__":
    main()
