"""Load-test the inbound webhook: 20,000 signed STOPs under gunicorn, then 1,000 replays.

Needs a scratch PostgreSQL database (its consent and messaging tables are emptied and refilled;
the name must contain "bench")::

    createdb -h 127.0.0.1 -U postgres bench_inbound
    DATABASE_URL=postgres://postgres@127.0.0.1/bench_inbound .venv/bin/python bench/bench_inbound.py

What it does:

1. Migrates, empties the tables and seeds, set-based: one sender (our number) for one program,
   another program on another number, and 20,000 contacts opted in to the first.
2. Starts gunicorn (4 sync workers, `CONN_MAX_AGE` persistent connections) on a free port of
   127.0.0.1, behind a pretend proxy: `PUBLIC_BASE_URL` differs from the address it listens on.
3. Posts 20,000 STOPs from distinct numbers, shaped and signed exactly as Twilio does, over
   `BENCH_CONCURRENCY` connections (gunicorn's sync workers close each connection, so every
   request connects anew, as Twilio's do). The load comes from `wrk` (C, one thread,
   bench/inbound_wrk.lua posts each pre-signed request once) when it is installed
   (`apt-get install wrk`): a Python load generator on these same 2 cores takes a third of the
   CPU the server needs. Without wrk, or with BENCH_LOAD=python, client threads post them.
   Bounded by count and by `BENCH_MAX_SECONDS`; loopback only. Prints requests/s and latency
   percentiles.
4. Checks every STOP was recorded exactly once: 20,000 inbound rows, 20,000 opt-out events
   (one per contact), 20,000 replies and confirmations, 20,000 states opted out.
5. Replays 1,000 of the requests (Twilio's retries): every answer must equal the first one
   and no count may change.

Environment: BENCH_CONTACTS (20000), BENCH_CONCURRENCY (8), BENCH_WORKERS (4),
BENCH_REPLAYS (1000), BENCH_MAX_SECONDS (300), BENCH_LOAD (wrk if installed, else python).
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.db.models import Max, Min

django.setup()

from common import CONTACTS_SQL, require_scratch_postgres, seeded_chain  # noqa: E402

# The app's modules need the app registry, hence after setup().
from twilio.request_validator import RequestValidator  # noqa: E402

from consent.models import ConsentConfirmation, ConsentEvent, ConsentState  # noqa: E402
from messaging.models import InboundMessage, OutboundMessage  # noqa: E402
from tests.factories import create_program, create_sender  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CONTACTS = int(os.environ.get("BENCH_CONTACTS", 20_000))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", 8))
WORKERS = int(os.environ.get("BENCH_WORKERS", 4))
REPLAYS = int(os.environ.get("BENCH_REPLAYS", 1_000))
MAX_SECONDS = float(os.environ.get("BENCH_MAX_SECONDS", 300))
LOAD = os.environ.get("BENCH_LOAD", "wrk" if shutil.which("wrk") else "python")

HOST = "127.0.0.1"  # loopback only
PATH = "/webhooks/twilio/inbound/"
PUBLIC_BASE_URL = "https://sms.bench.example"  # what Twilio would call, behind a proxy
AUTH_TOKEN = "bench0auth0token0000000000000000"  # noqa: S105 (the bench server's own)
ACCOUNT_SID = "AC" + "b" * 32
OUR_NUMBER = "+18335550100"
CONFIRMATION = "Acme: you are unsubscribed and will get no more messages."

TABLES = (
    "consent_consentconfirmation, consent_consentstate, consent_consentevent, "
    "consent_suppression, consent_contact_tags, consent_contact, consent_disclosure, "
    "consent_program, messaging_statuscallback, messaging_messageevent, "
    "messaging_revocationreview, messaging_outboundmessage, messaging_inboundmessage, "
    "messaging_conversation, messaging_sender_programs, messaging_sender"
)


def seed(contacts: int) -> list[str]:
    """Our sender and programs, and `contacts` opted-in contacts; returns their numbers."""
    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
        cursor.execute("CREATE EXTENSION IF NOT EXISTS pgcrypto")
    program = create_program("bench-offers")
    # STOP filtering off at the provider: the bench measures our own reply path (queued).
    create_sender(program, phone_number=OUR_NUMBER, name="Bench line", keyword_replies="us")
    create_sender(create_program("bench-alerts"), phone_number="+18335550101")
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
                '{"ip": "203.0.113.7"}', '', """
            + seeded_chain(1)
            + """
            FROM consent_contact
            """,
        ),
        (
            "states",
            """
            INSERT INTO consent_consentstate (contact_id, program_id, status, last_event_id, since,
                opted_in_at, updated_at)
            SELECT contact_id, program_id, resulting_status, id, occurred_at, occurred_at, now()
            FROM consent_consentevent
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
    with connection.cursor() as cursor:
        for label, sql in steps:
            start = time.perf_counter()
            cursor.execute(sql, params)
            print(f"  {label:<10}{cursor.rowcount:>8,} rows {time.perf_counter() - start:6.2f} s")
        cursor.execute("VACUUM ANALYZE")
        cursor.execute("SELECT phone FROM consent_contact ORDER BY id")
        return [row[0] for row in cursor.fetchall()]


# --- The server -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def start_gunicorn(port: int) -> subprocess.Popen:
    env = os.environ | {
        "CONN_MAX_AGE": "600",
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "ALLOWED_HOSTS": HOST,
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        "SMS_REVOKE_ALL": "false",
    }
    command = [
        str(ROOT / ".venv" / "bin" / "gunicorn"),
        "config.wsgi:application",
        "--workers",
        str(WORKERS),
        "--worker-class",
        "sync",
        "--bind",
        f"{HOST}:{port}",
        "--log-level",
        "warning",
    ]
    server = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    deadline = time.monotonic() + 120  # a loaded machine starts slowly
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=2)
            conn.request("GET", PATH)
            status = conn.getresponse().status
            conn.close()
            if status == 405:
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


# --- The load -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    body: bytes
    signature: str


def stop_request(phone: str, n: int) -> Request:
    """A STOP exactly as Twilio posts it, signed over the public URL."""
    sid = f"SM{n:032x}"
    params = {
        "ToCountry": "US",
        "ToState": "CA",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "ToCity": "",
        "FromZip": "",
        "SmsSid": sid,
        "FromState": "CA",
        "SmsStatus": "received",
        "FromCity": "",
        "Body": "STOP",
        "FromCountry": "US",
        "To": OUR_NUMBER,
        "ToZip": "",
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": phone,
        "ApiVersion": "2010-04-01",
    }
    signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_BASE_URL + PATH, params)
    return Request(urlencode(params).encode(), signature)


@dataclass
class Results:
    latencies: list[float] = field(default_factory=list)
    finished: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    bodies: dict[int, bytes] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    elapsed: float = 0.0


def run_load(port: int, requests: list[Request], concurrency: int) -> Results:
    """Post every request once from `concurrency` threads; bounded by MAX_SECONDS."""
    results = Results()
    lock = threading.Lock()
    cursor = iter(range(len(requests)))
    deadline = time.monotonic() + MAX_SECONDS

    def worker() -> None:
        conn = http.client.HTTPConnection(HOST, port, timeout=30)
        latencies, finished, statuses, bodies = [], [], {}, {}
        while time.monotonic() < deadline:
            with lock:
                index = next(cursor, None)
            if index is None:
                break
            request = requests[index]
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": request.signature,
            }
            start = time.perf_counter()
            try:
                conn.request("POST", PATH, body=request.body, headers=headers)
                response = conn.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                with lock:
                    results.errors.append(repr(exc))
                continue
            finished.append(time.perf_counter())
            latencies.append(finished[-1] - start)
            statuses[response.status] = statuses.get(response.status, 0) + 1
            bodies[index] = body
            if response.will_close:
                conn.close()  # sync workers close every connection; reconnect for the next
        conn.close()
        with lock:
            results.latencies.extend(latencies)
            results.finished.extend(finished)
            results.bodies.update(bodies)
            for status, count in statuses.items():
                results.statuses[status] = results.statuses.get(status, 0) + count

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.elapsed = time.perf_counter() - start
    return results


def run_wrk(port: int, requests: list[Request], concurrency: int, expected: str) -> dict:
    """Post every request once with wrk (bench/inbound_wrk.lua); its summary as a dict.

    wrk runs for its whole `--duration` even when its threads are done, so it is interrupted
    (SIGINT: it prints its summary) once the database holds every inbound row. The rate comes
    from the server's own clock: the rows' first and last `received_at`.
    """
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as file:
        for request in requests:
            file.write(f"{request.signature} {request.body.decode()}\n")
    command = [
        "wrk",
        "--threads=1",
        f"--connections={concurrency}",
        f"--duration={int(MAX_SECONDS)}s",
        "--timeout=30s",
        f"--script={ROOT / 'bench' / 'inbound_wrk.lua'}",
        f"http://{HOST}:{port}{PATH}",
        "--",
        file.name,
        "1",
        expected,
    ]
    load = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        while load.poll() is None:
            time.sleep(0.5)
            if InboundMessage.objects.count() >= len(requests):
                time.sleep(0.5)  # the last answers on their way back
                load.send_signal(signal.SIGINT)
                break
        output = load.communicate(timeout=30)[0]
    finally:
        os.unlink(file.name)
        connection.close()
    line = next(line for line in output.splitlines() if line.startswith("WRK "))
    summary = json.loads(line.removeprefix("WRK "))
    span = InboundMessage.objects.aggregate(first=Min("received_at"), last=Max("received_at"))
    rows = InboundMessage.objects.count()
    connection.close()
    seconds = (span["last"] - span["first"]).total_seconds() if rows > 1 else float("nan")
    summary["rate"] = rows / seconds
    print(
        f"STOP (wrk): {rows:,} STOPs recorded in {seconds:.1f} s = {summary['rate']:,.0f} req/s "
        f"(server clock); latency p50 {summary['p50_ms']:.1f} ms, p90 {summary['p90_ms']:.1f} ms, "
        f"p99 {summary['p99_ms']:.1f} ms, max {summary['max_ms']:.1f} ms, mean "
        f"{summary['mean_ms']:.1f} ms; not 200: {summary['bad_status']}, not the confirmation: "
        f"{summary['bad_body']}, socket errors: {summary['errors']}, idle placeholders at the end: "
        f"{summary['extra']}"
    )
    return summary


def report(label: str, results: Results) -> None:
    done = len(results.latencies)
    latencies = sorted(results.latencies)
    p = lambda q: latencies[min(len(latencies) - 1, int(len(latencies) * q))] * 1e3  # noqa: E731
    print(
        f"{label}: {done:,} requests in {results.elapsed:.1f} s = "
        f"{done / results.elapsed:,.0f} req/s; latency p50 {p(0.50):.1f} ms, p90 {p(0.90):.1f} ms, "
        f"p99 {p(0.99):.1f} ms, max {latencies[-1] * 1e3:.1f} ms, "
        f"mean {statistics.fmean(latencies) * 1e3:.1f} ms; statuses {results.statuses}"
        + (f"; {len(results.errors)} errors, e.g. {results.errors[0]}" if results.errors else "")
    )


def quarters(results: Results) -> str:
    """Requests/s in each quarter of the run: a slowdown as tables grow would show here."""
    ends = sorted(results.finished)
    size = len(ends) // 4
    if size < 2:
        return ""
    rates = [(size - 1) / (ends[(i + 1) * size - 1] - ends[i * size]) for i in range(4)]
    return "  req/s by quarter: " + " / ".join(f"{rate:,.0f}" for rate in rates)


def counts() -> dict[str, int]:
    opt_outs = ConsentEvent.objects.filter(kind="opt_out")
    return {
        "inbound rows": InboundMessage.objects.count(),
        "opt-out events": opt_outs.count(),
        "contacts opted out": opt_outs.values("contact_id").distinct().count(),
        "states opted out": ConsentState.objects.filter(status="opted_out").count(),
        "replies (auto_reply)": OutboundMessage.objects.filter(kind="auto_reply").count(),
        "confirmations": ConsentConfirmation.objects.count(),
    }


def verify(expected: int) -> bool:
    found = counts()
    ok = all(value == expected for value in found.values())
    print(("  ok: " if ok else "  MISMATCH: ") + ", ".join(f"{k} {v:,}" for k, v in found.items()))
    return ok


def main() -> None:
    require_scratch_postgres("its consent and messaging tables are emptied")
    print(f"Seeding {CONTACTS:,} opted-in contacts (set-based SQL) ...")
    phones = seed(CONTACTS)
    requests = [stop_request(phone, n) for n, phone in enumerate(phones, start=1)]
    connection.close()  # the server's workers get the database to themselves

    port = free_port()
    server = start_gunicorn(port)
    print(
        f"gunicorn: {WORKERS} sync workers on {HOST}:{port}, CONN_MAX_AGE=600; "
        f"load: {LOAD}, {CONCURRENCY} connections, {len(requests):,} signed STOPs, distinct numbers"
    )
    # Our confirmation is queued for the REST API (messaging.keyword_replies): empty TwiML.
    expected_reply = "<Response/>"
    try:
        if LOAD == "wrk":
            summary = run_wrk(port, requests, CONCURRENCY, expected_reply)
            ok = not (summary["bad_status"] or summary["bad_body"] or summary["errors"])
        else:
            results = run_load(port, requests, CONCURRENCY)
            report("STOP", results)
            print(quarters(results))
            ok = results.statuses == {200: len(requests)} and all(
                expected_reply.encode() in body for body in results.bodies.values()
            )
        print(f"  every answer a 200 with the one confirmation: {ok}")
        ok = verify(len(requests)) and ok

        replayed = requests[:REPLAYS]
        replay = run_load(port, replayed, CONCURRENCY)
        report(f"Replay of {len(replayed):,}", replay)
        same = replay.statuses == {200: len(replayed)} and all(
            expected_reply.encode() in body for body in replay.bodies.values()
        )
        print(f"  every replay answered as the first time: {same}")
        ok = verify(len(requests)) and same and ok
    finally:
        stop(server)
    print("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
