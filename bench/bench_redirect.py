"""Load-test the short-link redirect under gunicorn: taps per second, latency, clicks stored.

Needs a scratch PostgreSQL database (its message, link and click tables are emptied; the name
must contain "bench")::

    createdb -h 127.0.0.1 -U postgres bench_redirect
    DATABASE_URL=postgres://postgres@127.0.0.1/bench_redirect \
        .venv/bin/python bench/bench_redirect.py

1. Seeds, set-based: BENCH_MESSAGES delivered messages (one per contact) of a program that
   tracks links, and their short links to one destination.
2. Starts gunicorn (BENCH_WORKERS sync workers, persistent database connections) on a free
   loopback port.
3. Taps BENCH_REQUESTS short links (a GET with `Host: <SMS_LINK_DOMAIN>` and a phone's user
   agent) from BENCH_CLIENTS processes of BENCH_THREADS threads each, every request on a new
   connection (as phones make them). The load generator shares the machine's cores.
4. Counts the clicks: every 302 must have stored exactly one click, nothing else any.

Prints redirects/s, p50/p90/p99 and the load average (the machine may be shared).
Goal: >= 1,000 redirects/s with p99 <= 25 ms on 2 cores.
"""

from __future__ import annotations

import http.client
import multiprocessing
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from common import CONTACTS_SQL, require_scratch_postgres  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from messaging.links import link_for, make_code  # noqa: E402
from messaging.models import Click  # noqa: E402
from tests.factories import create_program, create_sender  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MESSAGES = int(os.environ.get("BENCH_MESSAGES", 20_000))
REQUESTS = int(os.environ.get("BENCH_REQUESTS", 20_000))
WORKERS = int(os.environ.get("BENCH_WORKERS", 4))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", 2))
THREADS = int(os.environ.get("BENCH_THREADS", 4))
HOST = "127.0.0.1"
AGENT = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile"
TABLES = (
    "messaging_click, messaging_conversion, messaging_trackedlink, messaging_messageevent, "
    "messaging_dailycount, "
    "messaging_outboundmessage, consent_consentstate, consent_consentevent, "
    "consent_contact_tags, consent_contact, consent_disclosure, messaging_sender_programs, "
    "messaging_sender, consent_program"
)


def seed() -> list[str]:
    """MESSAGES delivered messages with a short link each; returns their codes."""
    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
        cursor.execute("CREATE EXTENSION IF NOT EXISTS pgcrypto")
        cursor.execute(CONTACTS_SQL, {"n": MESSAGES, "key": settings.PHONE_HASH_KEY})
    program = create_program("bench-offers", link_tracking=True)
    sender = create_sender(program, phone_number="+18335550100")
    link = link_for(program, "https://shop.acme.example/boots?size=9")
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO messaging_outboundmessage (contact_id, "to", sender_id, program_id,
                message_type, kind, body, encoding, segments, status, reason, provider_sid,
                error_message, attempts, next_attempt_at, created_at, sent_at, delivered_at,
                price_unit)
            SELECT id, phone, %(sender)s, %(program)s, 'marketing', 'api', 'Acme: boots', 'GSM-7',
                1, 'delivered', '', 'SM' || id, '', 1, now(), now() - interval '1 hour',
                now() - interval '1 hour', now() - interval '1 hour', ''
            FROM consent_contact ORDER BY id
            RETURNING id
            """,
            {"sender": sender.pk, "program": program.pk},
        )
        ids = [row[0] for row in cursor.fetchall()]
        cursor.execute("VACUUM ANALYZE messaging_outboundmessage")
    return [make_code(message_id, link.pk) for message_id in ids]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def start_gunicorn(port: int, probe: str) -> subprocess.Popen:
    env = os.environ | {"CONN_MAX_AGE": "600", "DEBUG": "false", "LOG_LEVEL": "WARNING"}
    command = [
        str(Path(sys.executable).parent / "gunicorn"),
        "config.wsgi:application",
        "--workers",
        str(WORKERS),
        "--bind",
        f"{HOST}:{port}",
        "--log-level",
        "warning",
    ]
    server = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=2)
            conn.request("GET", f"/l/{probe}x", headers={"User-Agent": AGENT})
            if conn.getresponse().status == 404:
                return server
        except OSError:
            time.sleep(0.2)
    stop(server)
    sys.exit("gunicorn did not start")


def stop(server: subprocess.Popen) -> None:
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)


def client(port: int, codes: list[str], domain: str, queue) -> None:
    """One load process: THREADS threads tap `codes` in turn; sends back (latencies, statuses)."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    position = iter(range(len(codes)))

    def tap() -> None:
        while True:
            with lock:
                n = next(position, None)
            if n is None:
                return
            start = time.perf_counter()
            conn = http.client.HTTPConnection(HOST, port, timeout=10)
            try:
                conn.request("GET", f"/{codes[n]}", headers={"Host": domain, "User-Agent": AGENT})
                status = conn.getresponse().status
            except OSError:
                status = 0
            finally:
                conn.close()
            elapsed = time.perf_counter() - start
            with lock:
                latencies.append(elapsed)
                statuses[status] = statuses.get(status, 0) + 1

    threads = [threading.Thread(target=tap) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    queue.put((latencies, statuses))


def main() -> None:
    require_scratch_postgres("its message, link and click tables are emptied")
    print(f"Seeding {MESSAGES:,} delivered messages with a short link each ...")
    codes = seed()
    connection.close()
    port = free_port()
    server = start_gunicorn(port, codes[0])
    try:
        taps = [codes[n % len(codes)] for n in range(REQUESTS)]
        shares = [taps[i::CLIENTS] for i in range(CLIENTS)]
        queue = multiprocessing.get_context("fork").Queue()
        domain = settings.SMS_LINK_DOMAIN
        print(
            f"gunicorn: {WORKERS} sync workers on {HOST}:{port}; {REQUESTS:,} taps from "
            f"{CLIENTS} processes x {THREADS} threads, load average before {os.getloadavg()}"
        )
        start = time.perf_counter()
        processes = [
            multiprocessing.get_context("fork").Process(
                target=client, args=(port, share, domain, queue)
            )
            for share in shares
        ]
        for process in processes:
            process.start()
        results = [queue.get() for _ in processes]
        for process in processes:
            process.join()
        elapsed = time.perf_counter() - start
        load = os.getloadavg()
    finally:
        stop(server)
    latencies = sorted(x for lat, _ in results for x in lat)
    statuses: dict[int, int] = {}
    for _, counts in results:
        for status, n in counts.items():
            statuses[status] = statuses.get(status, 0) + n
    cuts = statistics.quantiles(latencies, n=100)
    redirects = statuses.get(302, 0)
    print(
        f"redirects: {redirects / elapsed:,.0f}/s ({redirects:,} in {elapsed:.1f} s), "
        f"p50 {cuts[49] * 1000:.1f} ms, p90 {cuts[89] * 1000:.1f} ms, "
        f"p99 {cuts[98] * 1000:.1f} ms; statuses {statuses}; load average after {load}"
    )
    connection.connect()
    clicks = Click.objects.count()
    humans = Click.objects.filter(bot_reason="").count()
    verdict = "OK" if clicks == redirects else "MISMATCH"
    print(
        f"clicks stored: {clicks:,} for {redirects:,} redirects ({verdict}); "
        f"{humans:,} human, {clicks - humans:,} bot"
    )
    if clicks != redirects:
        sys.exit(1)


if __name__ == "__main__":
    main()
