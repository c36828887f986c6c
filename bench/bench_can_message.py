"""Print `can_message` latency for one number and `eligible_contacts` throughput over 1M contacts.

Needs a scratch PostgreSQL database (its consent tables are emptied and refilled; the name must
contain "bench")::

    createdb -h 127.0.0.1 -U postgres bench
    DATABASE_URL=postgres://postgres@127.0.0.1/bench .venv/bin/python bench/bench_can_message.py

Data (set-based SQL, ~1 minute): 1M contacts in one program, every one opted in, 10% opted out
afterwards, 2% suppressed for all programs; so ~88% are eligible. `phone_hash` is computed in SQL
with pgcrypto's HMAC under the app's key, so hashes match `consent.phones.phone_hash` exactly.
Prints medians (latency: median and p99 over 2,000 calls).
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
from django.db import connection
from django.utils import timezone

django.setup()

from common import (  # noqa: E402
    CONSENT_TABLES,
    CONTACTS_SQL,
    require_scratch_postgres,
    run_steps,
    seeded_chain,
)

# The app's modules need the app registry, hence after setup().
from consent.models import Program, Suppression  # noqa: E402
from consent.phones import phone_hash  # noqa: E402
from consent.selectors import can_message, eligible_contacts  # noqa: E402
from tests.factories import create_program  # noqa: E402

CONTACTS = int(os.environ.get("BENCH_CONTACTS", 1_000_000))
CALLS = 2_000
RUNS = 3

TABLES = CONSENT_TABLES


def generate(contacts: int) -> Program:
    """Fill the ledger, the derived state and suppressions for one program, set-based."""
    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
        cursor.execute("CREATE EXTENSION IF NOT EXISTS pgcrypto")
    program = create_program("bench-offers")
    disclosure = program.disclosures.get()
    steps = [
        (
            "contacts",
            CONTACTS_SQL,
        ),
        (
            "opt-ins",
            """
            INSERT INTO consent_consentevent (contact_id, phone, program_id, kind,
                resulting_status, method, source, disclosure_id, disclosure_hash, occurred_at,
                recorded_at, recorded_by_label, evidence, note, chain_seq, prev_hash, chain_hash)
            SELECT id, phone, %(program)s, 'opt_in', 'opted_in', 'web_form',
                'https://acme.example/join', %(disclosure)s, %(hash)s,
                timestamptz '2025-01-01' + id * interval '1 second', now(), 'bench',
                '{"ip": "203.0.113.7", "user_agent": "Mozilla/5.0"}', '',
                """
            + seeded_chain(1)
            + """
            FROM consent_contact
            """,
        ),
        (
            "opt-outs (10%)",
            """
            INSERT INTO consent_consentevent (contact_id, phone, program_id, kind,
                resulting_status, method, source, occurred_at, recorded_at, recorded_by_label,
                evidence, note, disclosure_hash, chain_seq, prev_hash, chain_hash)
            SELECT id, phone, %(program)s, 'opt_out', 'opted_out', 'keyword', 'STOP to 12345',
                timestamptz '2025-06-01' + id * interval '1 second', now(), 'bench',
                '{"raw_text": "STOP"}', '', '', """
            + seeded_chain(2)
            + """
            FROM consent_contact WHERE id %% 10 = 0
            """,
        ),
        (
            "states",
            """
            INSERT INTO consent_consentstate (contact_id, program_id, status, last_event_id, since,
                opted_in_at, opted_out_at, updated_at)
            SELECT DISTINCT ON (contact_id) contact_id, program_id, resulting_status, id,
                occurred_at, CASE WHEN kind = 'opt_in' THEN occurred_at END,
                CASE WHEN kind = 'opt_out' THEN occurred_at END, now()
            FROM consent_consentevent ORDER BY contact_id, occurred_at DESC, id DESC
            """,
        ),
        (
            "suppressions (2%)",
            """
            INSERT INTO consent_suppression (phone, phone_hash, reason, created_at,
                created_by_label, evidence, note, lift_note)
            SELECT phone, phone_hash, 'opt_out_all', timestamptz '2025-03-01', 'bench', '{}', '',
                ''
            FROM consent_contact WHERE id %% 50 = 1
            """,
        ),
    ]
    params = {
        "n": contacts,
        "key": settings.PHONE_HASH_KEY,
        "program": program.pk,
        "disclosure": disclosure.pk,
        "hash": disclosure.text_hash,
    }
    run_steps(steps, params, width=20)
    return program


def suppression_plan(program: Program) -> str:
    """The top plan node of the suppression check `can_message` makes (an index scan, ideally)."""
    query = Suppression.objects.suppressing(
        phone_hash("+14152000011"), program, timezone.now()
    ).values("id")
    sql, params = query.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}", params)
        nodes = [row[0].strip() for row in cursor.fetchall()]
    return next(n for n in nodes if "Scan" in n).split("  (")[0].lstrip("-> ")


def bench_can_message(program: Program, contacts: int) -> None:
    rng = random.Random(7)
    numbers = [f"+1415{2000000 + rng.randint(1, contacts)}" for _ in range(CALLS)]
    for number in numbers[:100]:  # warm the connection, caches and plans
        can_message(number, program)
    latencies = []
    reasons: dict[str, int] = {}
    for number in numbers:
        start = time.perf_counter()
        decision = can_message(number, program)
        latencies.append(time.perf_counter() - start)
        reasons[decision.reason] = reasons.get(decision.reason, 0) + 1
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    print(
        f"can_message, {CALLS:,} calls: median {statistics.median(latencies) * 1e3:.3f} ms, "
        f"p99 {p99 * 1e3:.3f} ms  ({', '.join(f'{k} {v}' for k, v in sorted(reasons.items()))})"
    )


def bench_eligible(program: Program) -> None:
    counts, count_times, iterate_times = [], [], []
    for _ in range(RUNS):
        start = time.perf_counter()
        counts.append(eligible_contacts(program).count())
        count_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        ids = 0
        for _id in eligible_contacts(program).values_list("id", flat=True).iterator(10_000):
            ids += 1
        iterate_times.append(time.perf_counter() - start)
    eligible = counts[0]
    assert ids == eligible
    count_s, iterate_s = statistics.median(count_times), statistics.median(iterate_times)
    print(
        f"eligible_contacts().count(): {eligible:,} eligible: {count_s:.2f} s, "
        f"{eligible / count_s:,.0f} rows/s"
    )
    print(
        f"eligible_contacts() ids, full iteration: {iterate_s:.2f} s, "
        f"{eligible / iterate_s:,.0f} rows/s"
    )


def main() -> None:
    require_scratch_postgres()
    print(f"Generating {CONTACTS:,} contacts ...")
    program = generate(CONTACTS)
    print(f"Medians of {RUNS} runs (latency over {CALLS:,} calls):")
    print(f"suppression check plan: {suppression_plan(program)}")
    bench_can_message(program, CONTACTS)
    bench_eligible(program)


if __name__ == "__main__":
    main()
