"""Print export throughput and memory: 1M ledger rows to CSV, and smaller JSON and XLSX runs.

Needs a scratch PostgreSQL database (its consent tables are emptied and refilled; the name must
contain "bench")::

    createdb -h 127.0.0.1 -U postgres bench
    DATABASE_URL=postgres://postgres@127.0.0.1/bench .venv/bin/python bench/bench_export.py

Data (set-based SQL, ~1 minute): 900k contacts opted in through a web form (IP, user agent,
disclosure), 100k of them opted out by keyword with a confirmation; 1M ledger rows in all, 1% of
the raw texts shaped like a formula so the escaping does work. `phone_hash` is sha256 in SQL
(not the app's HMAC: nothing here looks numbers up). The export is consumed and discarded;
memory is the process's resident set sampled every 50 ms. CSV figures are medians of 3 runs.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django
from django.core.management import call_command
from django.db import connection

django.setup()

from common import (  # noqa: E402
    CONSENT_TABLES,
    RssSampler,
    require_scratch_postgres,
    rss,
    run_steps,
    seeded_chain,
)

# The app's modules need the app registry, hence after setup().
from consent import exports  # noqa: E402
from consent.models import ConsentEvent, Program  # noqa: E402
from tests.factories import create_program  # noqa: E402

CONTACTS = int(os.environ.get("BENCH_CONTACTS", 900_000))
SMALL = 100_000  # rows for the XLSX run
RUNS = 3

TABLES = CONSENT_TABLES


def generate(contacts: int) -> Program:
    """Fill the ledger (opt-ins, opt-outs every 9th contact) and confirmations, set-based."""
    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
    program = create_program("bench-offers")
    disclosure = program.disclosures.get()
    steps = [
        (
            "contacts",
            """
            INSERT INTO consent_contact (phone, phone_hash, first_name, last_name, email, locale,
                time_zone, state, postal_code, country, attributes, created_at, updated_at)
            SELECT p, encode(sha256(convert_to(p, 'UTF8')), 'hex'), 'Bench', 'Contact ' || g,
                '', 'en', '', 'CA', '', 'US', '{}', now(), now()
            FROM (SELECT g, '+1415' || (2000000 + g) AS p FROM generate_series(1, %(n)s) g) s
            """,
        ),
        (
            "opt-ins",
            """
            INSERT INTO consent_consentevent (contact_id, phone, program_id, kind,
                resulting_status, method, source, disclosure_id, disclosure_hash, occurred_at,
                recorded_at, recorded_by_label, evidence, note, chain_seq, prev_hash, chain_hash)
            SELECT id, phone, %(program)s, 'opt_in', 'opted_in', 'web_form',
                'https://acme.example/join?utm=' || id, %(disclosure)s, %(hash)s,
                timestamptz '2025-01-01' + id * interval '1 second', now(), 'bench',
                jsonb_build_object('ip', '203.0.113.' || (id %% 250),
                    'user_agent', 'Mozilla/5.0 (X11; Linux x86_64) Bench/' || id), '',
                """
            + seeded_chain(1)
            + """
            FROM consent_contact
            """,
        ),
        (
            "opt-outs",
            """
            INSERT INTO consent_consentevent (contact_id, phone, program_id, kind,
                resulting_status, method, source, occurred_at, recorded_at, recorded_by_label,
                evidence, note, disclosure_hash, chain_seq, prev_hash, chain_hash)
            SELECT id, phone, %(program)s, 'opt_out', 'opted_out', 'keyword', 'STOP to 12345',
                timestamptz '2025-06-01' + id * interval '1 second', now(), 'bench',
                jsonb_build_object('raw_text', CASE WHEN id %% 100 = 0 THEN '=cmd|calc' ELSE
                    'Stop texting me' END, 'provider_message_id', 'SM' || md5(id::text)),
                '', '', """
            + seeded_chain(2)
            + """
            FROM consent_contact WHERE id %% 9 = 0
            """,
        ),
        (
            "confirmations",
            """
            INSERT INTO consent_consentconfirmation (event_id, sent_at, message_ref)
            SELECT id, occurred_at + interval '2 seconds', 'SM' || md5(id::text || 'c')
            FROM consent_consentevent WHERE kind = 'opt_out'
            """,
        ),
    ]
    params = {
        "n": contacts,
        "program": program.pk,
        "disclosure": disclosure.pk,
        "hash": disclosure.text_hash,
    }
    run_steps(steps, params, width=16)
    return program


def consume(chunks: Iterator[bytes]) -> tuple[int, int]:
    """Read an export as a client would; return (bytes, chunks)."""
    size = count = 0
    for chunk in chunks:
        size += len(chunk)
        count += 1
    return size, count


def measure(label: str, rows: int, make_chunks, runs: int = 1) -> None:
    times, peaks = [], []
    start_rss = rss()
    for _ in range(runs):
        with RssSampler() as memory:
            start = time.perf_counter()
            size, count = consume(make_chunks())
            times.append(time.perf_counter() - start)
        peaks.append(memory.peak)
    elapsed = statistics.median(times)
    print(
        f"{label:<34}{rows:>10,} rows {elapsed:6.2f} s {rows / elapsed:>10,.0f} rows/s "
        f"{size / 1e6:7.1f} MB in {count:,} chunks  "
        f"RSS {start_rss / 2**20:,.0f} -> peak {max(peaks) / 2**20:,.0f} MiB"
    )


def main() -> None:
    require_scratch_postgres()
    print(f"Generating the ledger for {CONTACTS:,} contacts ...")
    generate(CONTACTS)
    events = ConsentEvent.objects.count()
    opt_outs = ConsentEvent.objects.filter(kind="opt_out").count()
    print(f"{events:,} ledger rows. CSV figures are medians of {RUNS} runs.")
    consent_rows = exports.export_queryset("consent")
    columns = exports.COLUMNS["consent"]
    measure("consent CSV (COPY)", events, lambda: exports.stream_export("consent", "csv"), RUNS)
    measure(
        "consent CSV (values_list + csv)",
        events,
        lambda: exports._csv_chunks(consent_rows, columns),
    )
    measure("consent JSON", events, lambda: exports.stream_export("consent", "json"))
    first = ConsentEvent.objects.filter(id__lte=SMALL)
    measure(
        "consent XLSX",
        first.count(),
        lambda: exports.stream_export("consent", "xlsx", queryset=first),
    )
    measure("opt-outs CSV (COPY)", opt_outs, lambda: exports.stream_export("opt-outs", "csv"), RUNS)


if __name__ == "__main__":
    main()
