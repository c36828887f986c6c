"""Print how long the admin's busiest pages take over a million contacts and messages.

    createdb -h 127.0.0.1 -U postgres bench_t13_features
    DATABASE_URL=postgres://postgres@127.0.0.1/bench_t13_features \
        .venv/bin/python bench/bench_admin_pages.py

Data: bench_can_message's generator (BENCH_CONTACTS contacts opted in to one program, 10% opted
out, 2% suppressed), one campaign fanned out to all of them, its messages marked sent and
delivered over the last 30 days, and an inbound reply for one contact in ten. Timed (median of
BENCH_RUNS, in-process test client, superuser): the home page (attention items, the 7-day
figures and chart), the campaign launch step (its summary reads at most 50,000 audience rows and
scales by the planner's estimate), and the audience builder's live count (bounded at 10,000).
Goal: each well under a second, whatever the table sizes.
"""

from __future__ import annotations

import json
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
from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from campaigns.fanout import fanout_all  # noqa: E402
from campaigns.models import Audience, Campaign, CampaignVariant  # noqa: E402
from consent.models import Program  # noqa: E402
from messaging.models import Sender  # noqa: E402
from tests.factories import create_approved_version, create_template, create_user  # noqa: E402

CONTACTS = int(os.environ.get("BENCH_CONTACTS", 1_000_000))
RUNS = int(os.environ.get("BENCH_RUNS", 5))
#: BENCH_REUSE=1 keeps the contacts and ledger of an earlier run (generating takes minutes).
REUSE = os.environ.get("BENCH_REUSE") == "1"
BODY = "Acme: hi {first_name|there}, 20% off at https://acme.example/sale Reply STOP to opt out"

SPREAD_SQL = """
    UPDATE messaging_outboundmessage
    SET status = 'delivered', provider_sid = 'SMbench' || id,
        sent_at = now() - (id % 30) * interval '1 day',
        delivered_at = now() - (id % 30) * interval '1 day' + interval '5 seconds'
    WHERE status = 'queued'
"""
INBOUND_SQL = """
    INSERT INTO messaging_inboundmessage (provider_sid, from_number, to_number, body, raw,
        received_at, contact_id, intent, matched, reply, handled_at, answered_by)
    SELECT 'SMin' || id, phone, '+18335550100', 'Do you have tents?', '{}',
        now() - (id % 30) * interval '1 day', id, 'other', '', '', now(), ''
    FROM consent_contact WHERE id % 10 = 0
"""


def timed(label: str, call) -> None:
    seconds, queries = [], 0
    for _ in range(RUNS):
        with CaptureQueriesContext(connection) as captured:
            start = time.perf_counter()
            response = call()
            seconds.append(time.perf_counter() - start)
        assert response.status_code in (200, 302), response.status_code
        queries = len(captured)
    print(
        f"  {label:<34} median {1000 * statistics.median(seconds):7.1f} ms, "
        f"max {1000 * max(seconds):7.1f} ms, {queries} queries"
    )


def main() -> None:
    require_scratch_postgres()
    call_command("migrate", verbosity=0)
    program = Program.objects.filter(slug="bench-offers").first() if REUSE else None
    with connection.cursor() as cursor:
        kept = "" if program else ", auth_user"  # auth_user cascades to the ledger
        cursor.execute(
            "TRUNCATE campaigns_campaign, campaigns_audience, templates_messagetemplate"
            f"{kept} CASCADE"
        )
    if program is None:
        print(f"Generating {CONTACTS:,} contacts ...")
        program = generate(CONTACTS)
    else:  # the factories number their users from 1 again
        User.objects.filter(username__startswith="reviewer").delete()
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE messaging_messageevent, messaging_outboundmessage, "
            "messaging_inboundmessage CASCADE"
        )
    owner = create_user(f"bench{time.time_ns()}", superuser=True)
    sender, _ = Sender.objects.get_or_create(
        phone_number="+18335550100", defaults={"name": "Bench", "mps": 100}
    )
    sender.programs.add(program)
    version = create_approved_version(
        create_template(program, owner=owner, name=f"Bench {time.time_ns()}"), body=BODY
    )
    audience = Audience.objects.create(name="Everyone", filters={})

    def campaign(name: str, status: str) -> Campaign:
        made = Campaign.objects.create(
            name=name, program=program, audience=audience, created_by=owner, status=status
        )
        made.senders.add(sender)
        CampaignVariant.objects.create(campaign=made, label="A", template_version=version)
        return made

    start = time.perf_counter()
    fanout_all(campaign("Sent last month", "sending"))
    with connection.cursor() as cursor:
        cursor.execute(SPREAD_SQL)
        cursor.execute(INBOUND_SQL)
        cursor.execute("VACUUM ANALYZE")
    print(f"  messages and replies written in {time.perf_counter() - start:.1f} s")
    draft = campaign("Draft to everyone", "draft")

    client = Client()
    client.force_login(owner)
    print(f"Timing ({RUNS} runs each, {CONTACTS:,} contacts):")
    timed("home page", lambda: client.get("/admin/"))
    timed(
        "launch step (summary)", lambda: client.get(f"/admin/campaigns/campaign/{draft.pk}/launch/")
    )
    timed(
        "audience builder live count",
        lambda: client.post(
            "/admin/campaigns/audience/preview/",
            json.dumps({"filters": {"state_in": ["CA"]}}),
            content_type="application/json",
        ),
    )


if __name__ == "__main__":
    main()
