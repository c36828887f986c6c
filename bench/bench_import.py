"""Print the throughput and peak memory of `import_consent` on 100k CSV rows, 5% of them bad.

Needs a scratch PostgreSQL database (its consent tables are emptied; the name must contain
"bench")::

    createdb -h 127.0.0.1 -U postgres bench
    DATABASE_URL=postgres://postgres@127.0.0.1/bench .venv/bin/python bench/bench_import.py

Runs the command three times: a dry run of the first 10k rows (it costs as much per row as the
import), the import, and the import of the same file again (every good row is then skipped by
its idempotency key). Memory is the process's resident set, sampled every 50 ms.
BENCH_IMPORT_ROWS changes the row count. The command takes the batched path
(`consent.importing`: `consent_opt_in_many` per batch of IMPORT_BATCH_ROWS rows, one commit
each); the goal is 2,000 rows/s or more with flat memory. The figure for the per-row service
(one `consent_opt_in` per row, as the admin's old preview did) is printed on a 2,000-row sample
for comparison.
"""

from __future__ import annotations

import csv
import io
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

django.setup()

# The app's modules need the app registry, hence after setup().
import tablib  # noqa: E402
from common import CONSENT_TABLES, RssSampler, require_scratch_postgres  # noqa: E402

from consent.models import ConsentEvent, Disclosure  # noqa: E402
from consent.resources import ConsentBatchImportResource  # noqa: E402
from tests.factories import create_program  # noqa: E402

ROWS = int(os.environ.get("BENCH_IMPORT_ROWS", 100_000))
DRY_RUN_ROWS = min(ROWS, 10_000)  # a dry run costs as much as the import: a sample is enough
BAD_EVERY = 20  # 5%

TABLES = CONSENT_TABLES
HEADER = ["phone", "name", "email", "program", "opted_in_at", "method", "source"]
HEADER += ["disclosure_version", "ip", "user_agent"]
BAD_CHANGES = [
    {"phone": "415555"},
    {"program": "no-such-program"},
    {"opted_in_at": "15/01/2025"},
    {"source": ""},
    {"disclosure_version": "9"},
]


def good_row(n: int) -> dict[str, str]:
    number = 2000000 + n  # (415) 200-0001 ...: valid US numbers, one per n
    return {
        "phone": f"(415) {number // 10000}-{number % 10000:04d}",
        "name": f"Bench Person{n}",
        "email": f"p{n}@example.com",
        "program": "offers",
        "opted_in_at": f"2025-01-{1 + n % 28:02d}T{n % 24:02d}:{n % 60:02d}:00Z",
        "method": "web_form",
        "source": "https://acme.example/join",
        "disclosure_version": "1",
        "ip": "203.0.113.7",
        "user_agent": "Mozilla/5.0",
    }


def write_file(path: Path, numbers: range, bad_every: int = 0) -> int:
    """Write a CSV with a row per number, every `bad_every`-th one bad; return the bad count."""
    bad = 0
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(HEADER)
        for n in numbers:
            row = good_row(n)
            if bad_every and n % bad_every == 0:
                row |= BAD_CHANGES[(n // bad_every) % len(BAD_CHANGES)]
                bad += 1
            writer.writerow([row[c] for c in HEADER])
    return bad


def run(path: Path, *arguments: str) -> tuple[float, str, RssSampler]:
    out = io.StringIO()
    with RssSampler() as memory:
        start = time.perf_counter()
        call_command("import_consent", str(path), *arguments, stdout=out)
        elapsed = time.perf_counter() - start
    return elapsed, out.getvalue().splitlines()[-1], memory


def statements_per_new_row(directory: Path) -> float:
    """SQL statements per imported row, on a small file of new numbers."""
    sample = directory / "sample.csv"
    write_file(sample, range(1_500_001, 1_500_201))
    with CaptureQueriesContext(connection) as queries:
        call_command("import_consent", str(sample), stdout=io.StringIO())
    return len(queries) / 200


def main() -> None:
    require_scratch_postgres()
    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
    program = create_program("offers")
    Disclosure.objects.filter(program=program).update(effective_at="2024-01-01T00:00:00Z")
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "leads.csv"
        start = time.perf_counter()
        bad = write_file(path, range(1, ROWS + 1), BAD_EVERY)
        print(
            f"{ROWS:,} rows ({bad:,} bad) written in {time.perf_counter() - start:.1f} s, "
            f"{path.stat().st_size / 1e6:.1f} MB"
        )
        sample = Path(directory) / "dry-run.csv"
        write_file(sample, range(1, DRY_RUN_ROWS + 1), BAD_EVERY)
        for label, file, rows, arguments in [
            ("dry run", sample, DRY_RUN_ROWS, ["--dry-run"]),
            ("import", path, ROWS, []),
            ("same file again", path, ROWS, []),
        ]:
            elapsed, summary, memory = run(file, *arguments)
            print(
                f"{label:<16}{rows:>8,} rows {elapsed:7.1f} s {rows / elapsed:7,.0f} rows/s  "
                f"RSS {memory.start / 2**20:,.0f} -> peak {memory.peak / 2**20:,.0f} MiB\n"
                f"{'':<16}{summary}"
            )
        per_row = Path(directory) / "per-row.csv"
        write_file(per_row, range(3_000_001, 3_002_001))
        start = time.perf_counter()
        ConsentBatchImportResource(recorded_by_label="bench").import_data(
            tablib.Dataset().load(per_row.read_text(), format="csv"), file_name=per_row.name
        )
        elapsed = time.perf_counter() - start
        print(
            f"{'per-row service':<16}{2000:>8,} rows {elapsed:7.1f} s {2000 / elapsed:7,.0f} rows/s"
        )
        events = ConsentEvent.objects.filter(source__startswith="leads.csv").count()
        print(f"ledger events: {events:,} (expected {ROWS - bad:,})")
        print(f"SQL statements per new row: {statements_per_new_row(Path(directory)):.1f}")


if __name__ == "__main__":
    main()
