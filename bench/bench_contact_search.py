"""Print the latency of finding a contact by the end of its number, over 1M contacts.

Needs a scratch PostgreSQL database (its consent tables are emptied and refilled; the name must
contain "bench")::

    createdb -h 127.0.0.1 -U postgres bench
    DATABASE_URL=postgres://postgres@127.0.0.1/bench .venv/bin/python bench/bench_contact_search.py

Data (set-based SQL): 1M contacts +1415200xxxx. Prints the plan of a 7-digit suffix search and
median / p99 latency over 500 look-ups of random 4- and 7-digit suffixes, with the
`reverse(phone)` index and, for comparison, with sequential scans only.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django
from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction

django.setup()

from common import CONSENT_TABLES, CONTACTS_SQL, require_scratch_postgres, run_steps  # noqa: E402

from consent.models import Contact  # noqa: E402
from consent.phone_search import filter_phone_suffix  # noqa: E402

N = 1_000_000
LOOKUPS = 500


def measure(digits: int, *, seqscan_only: bool) -> tuple[float, float]:
    rng = random.Random(digits)
    times = []
    with transaction.atomic():
        with connection.cursor() as cursor:
            if seqscan_only:
                cursor.execute("SET LOCAL enable_indexscan = off")
                cursor.execute("SET LOCAL enable_bitmapscan = off")
        for _ in range(LOOKUPS if not seqscan_only else 20):
            suffix = str(2000000 + rng.randint(1, N))[-digits:]
            start = time.perf_counter()
            list(filter_phone_suffix(Contact.objects.all(), "phone", suffix)[:100].values("pk"))
            times.append(time.perf_counter() - start)
    times.sort()
    return statistics.median(times) * 1000, times[int(len(times) * 0.99) - 1] * 1000


def main() -> None:
    require_scratch_postgres()
    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {CONSENT_TABLES} RESTART IDENTITY CASCADE")
    run_steps([("contacts", CONTACTS_SQL)], {"n": N, "key": settings.PHONE_HASH_KEY})
    plan = filter_phone_suffix(Contact.objects.all(), "phone", "2004411").explain()
    print("plan of a 7-digit suffix search:\n  " + plan.replace("\n", "\n  "))
    for digits in (7, 4):
        for seqscan_only in (False, True):
            median, p99 = measure(digits, seqscan_only=seqscan_only)
            how = "sequential scan" if seqscan_only else "reverse(phone) index"
            print(f"  {digits}-digit suffix, {how:<22} median {median:8.2f} ms  p99 {p99:8.2f} ms")


if __name__ == "__main__":
    main()
