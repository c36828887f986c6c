"""Print campaign fan-out throughput and peak memory over 1.1M contacts (PostgreSQL).

    createdb -h 127.0.0.1 -U postgres bench_fanout
    DATABASE_URL=postgres://postgres@127.0.0.1/bench_fanout .venv/bin/python bench/bench_fanout.py

Data: bench_can_message's generator (1.1M contacts opted in to one program, 10% opted out
afterwards, 2% suppressed). The campaign's audience is everyone, so every contact gets a row:
queued when eligible, blocked with its reason otherwise. Goal: >=120k recipients/s, <=300 MB.

BENCH_LINKS: "off" (links as written), "on" (the campaign tracks links) or "both" (the default:
runs alternate off / on over the same data, and the ratio of the medians is printed; tracking
must stay within 10% of off). Short links are made at hand-off (bench_dispatch measures that),
so both write the same INSERT: the pair shows that tracking costs fan-out nothing.
"""

from __future__ import annotations

import os
import resource
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

from campaigns.fanout import fanout_all  # noqa: E402
from campaigns.models import Audience, Campaign, CampaignVariant  # noqa: E402
from messaging.models import OutboundMessage, Sender  # noqa: E402
from tests.factories import create_approved_version, create_template, create_user  # noqa: E402

CONTACTS = int(os.environ.get("BENCH_CONTACTS", 1_100_000))
RUNS = int(os.environ.get("BENCH_RUNS", 3))
BATCH = int(os.environ.get("BENCH_BATCH", 200_000))
LINKS = os.environ.get("BENCH_LINKS", "both")
BODY = "Acme: hi {first_name|there}, 20% off at https://acme.example/sale Reply STOP to opt out"


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_campaign(program, sender, version, owner, n: int, tracking: bool) -> Campaign:
    audience = Audience.objects.create(name=f"Everyone {n}", filters={})
    campaign = Campaign.objects.create(
        name=f"Bench {n}",
        program=program,
        audience=audience,
        created_by=owner,
        status="sending",
        link_tracking=tracking,
    )
    campaign.senders.add(sender)
    CampaignVariant.objects.create(campaign=campaign, label="A", template_version=version)
    return campaign


def main() -> None:
    require_scratch_postgres()
    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        # Before generating: auth_user's cascade reaches the consent ledger (recorded_by).
        cursor.execute(
            "TRUNCATE campaigns_campaign, campaigns_audience, templates_messagetemplate, "
            "auth_user CASCADE"
        )
    print(f"Generating {CONTACTS:,} contacts ...")
    program = generate(CONTACTS)
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE messaging_messageevent, messaging_outboundmessage CASCADE")
    owner = create_user(f"bench{time.time_ns()}")
    sender, _ = Sender.objects.get_or_create(
        phone_number="+18335550100", defaults={"name": "Bench", "mps": 100}
    )
    sender.programs.add(program)
    version = create_approved_version(
        create_template(program, owner=owner, name=f"Bench {time.time_ns()}"), body=BODY
    )
    modes = {"off": [False], "on": [True], "both": [False, True]}[LINKS]
    rates: dict[bool, list[float]] = {mode: [] for mode in modes}
    seconds: dict[bool, list[float]] = {mode: [] for mode in modes}
    n = 0
    for _ in range(RUNS):
        for tracking in modes:
            n += 1
            campaign = make_campaign(program, sender, version, owner, n, tracking)
            start = time.perf_counter()
            written = fanout_all(campaign, batch_size=BATCH)
            elapsed = time.perf_counter() - start
            rates[tracking].append(written / elapsed)
            seconds[tracking].append(elapsed)
            campaign.refresh_from_db()
            queued = OutboundMessage.objects.filter(campaign=campaign, status="queued").count()
            print(
                f"  run {n} (links {'tracked' if tracking else 'as written'}): {written:,} rows "
                f"({queued:,} queued, excluded {campaign.excluded}) "
                f"in {elapsed:.2f} s = {written / elapsed:,.0f} recipients/s"
            )
    for tracking in modes:
        print(
            f"fan-out, links {'tracked' if tracking else 'as written'}: median "
            f"{statistics.median(rates[tracking]):,.0f} recipients/s "
            f"({statistics.median(seconds[tracking]):.2f} s for {written:,})"
        )
    if len(modes) == 2:
        ratio = statistics.median(rates[True]) / statistics.median(rates[False])
        print(f"tracked / as written: {ratio:.2f}")
    print(f"peak RSS {peak_mb():.0f} MB, load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
