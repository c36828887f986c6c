"""What the bench scripts share: the scratch-database guard, set-based data, memory sampling.

Imported by the scripts in this folder (each puts it on sys.path and sets Django up first).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

from django.conf import settings
from django.db import connection

#: The consent tables a bench empties and refills (its database must be a scratch one).
CONSENT_TABLES = (
    "consent_consentconfirmation, consent_consentstate, consent_consentevent, "
    "consent_suppression, consent_contact_tags, consent_contact, consent_disclosure, "
    "consent_program"
)

#: `n` contacts +1415200xxxx; `phone_hash` is pgcrypto's HMAC under the app's key, so it
#: equals `consent.phones.phone_hash` (params: n, key).
CONTACTS_SQL = """
    INSERT INTO consent_contact (phone, phone_hash, first_name, last_name, email, locale,
        time_zone, state, postal_code, country, attributes, created_at, updated_at)
    SELECT p, encode(hmac(p, %(key)s, 'sha256'), 'hex'), 'Bench', 'Contact ' || g, '',
        'en', '', 'CA', '', 'US', '{}', now(), now()
    FROM (SELECT g, '+1415' || (2000000 + g) AS p FROM generate_series(1, %(n)s) g) s
"""


#: Chain columns for seeded events: the contact's place `n` in its chain, linked to place n-1.
#: The hashes are placeholders (not the canonical ones: `ledger_verify` would flag seeded rows),
#: but the writer appends real events after them exactly as it would in production.
def seeded_chain(n: int) -> str:
    link = "encode(sha256(convert_to('bench-{}-' || id, 'UTF8')), 'hex')"
    previous = "''" if n == 1 else link.format(n - 1)
    return f"{n}, {previous}, {link.format(n)}"


def require_scratch_postgres(what: str = "its consent tables are emptied") -> None:
    """Exit unless the database is PostgreSQL and named as a scratch one ("bench" in it).
    Its connections may then TRUNCATE the consent ledger (refused everywhere else)."""
    name = settings.DATABASES["default"]["NAME"]
    if connection.vendor != "postgresql" or "bench" not in name:
        sys.exit(
            f"Needs DATABASE_URL=postgres://.../<scratch db whose name contains 'bench'>; {what}."
        )
    options = settings.DATABASES["default"].setdefault("OPTIONS", {})
    options["options"] = f"{options.get('options', '')} -c consent.allow_truncate=on".strip()
    connection.close()  # the next connection opens with it


def run_steps(steps: list[tuple[str, str]], params: dict, *, width: int = 20) -> None:
    """Run labelled set-based SQL statements, printing rows and seconds, then VACUUM ANALYZE."""
    with connection.cursor() as cursor:
        cursor.execute("CREATE EXTENSION IF NOT EXISTS pgcrypto")
        for label, sql in steps:
            start = time.perf_counter()
            cursor.execute(sql, params)
            seconds = time.perf_counter() - start
            print(f"  {label:<{width}}{cursor.rowcount:>10,} rows {seconds:6.1f} s")
        cursor.execute("VACUUM ANALYZE")


class RssSampler:
    """Peak resident memory of this process while the block runs (Linux /proc)."""

    def __enter__(self) -> RssSampler:
        self.start = self.peak = rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, rss())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss())


def rss() -> int:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")
