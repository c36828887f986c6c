"""Load-test GET /api/v1/consent/check/ at a fixed rate under gunicorn: server and client times.

Needs a scratch PostgreSQL database (its consent tables are emptied and refilled; the name must
contain "bench")::

    createdb -h 127.0.0.1 -U postgres bench_check
    DATABASE_URL=postgres://postgres@/bench_check python bench/bench_consent_check.py

(`postgres://postgres@/...`: PostgreSQL's Unix socket, as when the app and the database share a
host. Over loopback TCP each round trip that wakes an idle process costs ~0.4 ms here against
~0.15 ms back to back, and server p50 is ~0.5 ms higher.)

What it does:

1. Seeds, set-based, the data of bench_can_message.py: `BENCH_CONTACTS` contacts (500,000) in
   one program, every one opted in, 10% opted out afterwards, 2% suppressed; and a partner key
   with consent:read and no rate limit.
2. Starts gunicorn (`BENCH_WORKERS` sync workers, persistent database connections) on a free
   port of 127.0.0.1 with an access log whose last field is gunicorn's `%(D)s`: microseconds
   from the request read to the response written, the server's own time per request.
3. From a separate process, drives the check at a fixed `BENCH_RATE` (200) requests/s for
   `BENCH_SECONDS` (20) - open loop: request i is due at start + i/rate, whatever the answers
   before it did - each for a distinct number of the seeded ones, after a short warm-up on other
   numbers. Client latency is measured from sending (and, to show queueing, from when the
   request was due).
4. Prints the achieved rate, server p50/p99 from the access log, the workers' CPU time per
   request (which, unlike the percentiles, does not grow when other work shares the cores),
   client p50/p99, the answers' reasons, and whether the targets hold (server p50 <= 2 ms,
   p99 <= 10 ms). Run it on a quiet machine: the percentiles include any wait for a core.

Environment: BENCH_CONTACTS (500000), BENCH_RATE (200), BENCH_SECONDS (20), BENCH_WORKERS (4),
BENCH_CLIENT_THREADS (32), BENCH_REUSE (1: keep the data of the last run with that many contacts).
"""

from __future__ import annotations

import http.client
import json
import multiprocessing
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django
from django.db import connection

django.setup()

from bench_can_message import generate  # noqa: E402
from bench_inbound import HOST, free_port, stop  # noqa: E402
from common import require_scratch_postgres  # noqa: E402

# The app's modules need the app registry, hence after setup().
from messaging.api_clients import api_client_create  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CONTACTS = int(os.environ.get("BENCH_CONTACTS", 500_000))
RATE = float(os.environ.get("BENCH_RATE", 200))
SECONDS = float(os.environ.get("BENCH_SECONDS", 20))
WORKERS = int(os.environ.get("BENCH_WORKERS", 4))
CLIENT_THREADS = int(os.environ.get("BENCH_CLIENT_THREADS", 32))
REUSE = os.environ.get("BENCH_REUSE") == "1"  # skip seeding: the data of the last run stays
WARM_UP = 400  # requests, on numbers the measured run does not use

PATH = "/api/v1/consent/check/"
PROGRAM = "bench-offers"
TARGET_P50_MS, TARGET_P99_MS = 2.0, 10.0
#: gunicorn's access log: path, query, status, microseconds in the server.
LOG_FORMAT = "%(U)s %(q)s %(s)s %(D)s"


def start_gunicorn(port: int, access_log: Path, probe: str, key: str) -> subprocess.Popen:
    env = os.environ | {
        "CONN_MAX_AGE": "600",
        "ALLOWED_HOSTS": HOST,
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
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
        "--access-logfile",
        str(access_log),
        "--access-logformat",
        LOG_FORMAT,
    ]
    server = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=2)
            conn.request("GET", probe, headers={"Authorization": f"Bearer {key}"})
            status = conn.getresponse().status
            conn.close()
            if status == 200:
                return server
        except OSError:
            time.sleep(0.2)
    stop(server)
    sys.exit("gunicorn did not start")


# --- The load (runs in its own process) ------------------------------------------------------


def drive(port: int, key: str, paths: list[str], rate: float, out) -> None:
    """Send `paths` at `rate` per second, open loop, from CLIENT_THREADS threads.

    Sends back through `out`: (latencies from send, latencies from due time, statuses,
    reasons, wall seconds from the first due time to the last answer, errors).
    """
    headers = {"Authorization": f"Bearer {key}", "Accept": "application/json"}
    lock = threading.Lock()
    counter = iter(range(len(paths)))
    start = time.perf_counter() + 0.2
    sent, due, statuses, reasons, errors = [], [], {}, {}, []
    last_done = [start]

    def worker() -> None:
        while True:
            with lock:
                index = next(counter, None)
            if index is None:
                return
            due_at = start + index / rate
            if (wait := due_at - time.perf_counter()) > 0:
                time.sleep(wait)
            began = time.perf_counter()
            try:
                conn = http.client.HTTPConnection(HOST, port, timeout=30)
                conn.request("GET", paths[index], headers=headers)
                response = conn.getresponse()
                body = response.read()
                conn.close()
            except (OSError, http.client.HTTPException) as exc:
                with lock:
                    errors.append(repr(exc))
                continue
            done = time.perf_counter()
            answer = json.loads(body)
            reason = answer.get("reason") or answer.get("code")
            with lock:
                sent.append(done - began)
                due.append(done - due_at)
                statuses[response.status] = statuses.get(response.status, 0) + 1
                reasons[reason] = reasons.get(reason, 0) + 1
                last_done[0] = max(last_done[0], done)

    threads = [threading.Thread(target=worker) for _ in range(CLIENT_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.send((sent, due, statuses, reasons, last_done[0] - start, errors))
    out.close()


def run_load(port: int, key: str, paths: list[str], rate: float) -> tuple:
    receiver, sender = multiprocessing.Pipe(duplex=False)
    process = multiprocessing.get_context("fork").Process(
        target=drive, args=(port, key, paths, rate, sender)
    )
    process.start()
    sender.close()
    results = receiver.recv()
    process.join()
    return results


# --- Figures ---------------------------------------------------------------------------------


def workers_cpu_seconds(master: int) -> float:
    """CPU time (user + system) the gunicorn workers have used so far (Linux /proc).

    Unlike wall-clock percentiles, this does not grow when other processes share the cores:
    CPU per request is what the check costs the server whatever else the machine is doing.
    """
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for child in Path(f"/proc/{master}/task/{master}/children").read_text().split():
        fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def server_times_ms(access_log: Path) -> list[float]:
    """Server time of each measured check (warm-up requests carry `warm=1`)."""
    times = []
    for line in access_log.read_text().splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[0] == PATH and "warm=1" not in parts[1]:
            times.append(int(parts[3]) / 1000)
    return times


def main() -> None:
    require_scratch_postgres()
    if REUSE:
        print(f"Reusing the {CONTACTS:,} contacts seeded by an earlier run")
    else:
        print(f"Seeding {CONTACTS:,} contacts (set-based SQL) ...")
        generate(CONTACTS)
    _, key = api_client_create(
        name=f"Bench load {time.time():.0f}", scopes=["consent:read"], rate_per_minute=0
    )
    count = int(RATE * SECONDS)
    numbers = random.Random(7).sample(range(1, CONTACTS + 1), count + WARM_UP)
    paths = [f"{PATH}?phone=%2B1415{2000000 + n}&program={PROGRAM}" for n in numbers]
    warm, measured = [p + "&warm=1" for p in paths[count:]], paths[:count]
    connection.close()  # the server's workers get the database to themselves
    load_before = Path("/proc/loadavg").read_text().split()[0]

    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        access_log = Path(folder) / "access.log"
        process = start_gunicorn(port, access_log, warm[0], key)
        print(
            f"gunicorn: {WORKERS} sync workers on {HOST}:{port}, CONN_MAX_AGE=600; load: "
            f"{count:,} checks of distinct numbers at {RATE:.0f}/s, {CLIENT_THREADS} client "
            "threads in a separate process, one connection per request"
        )
        try:
            run_load(port, key, warm, RATE)
            cpu_before = workers_cpu_seconds(process.pid)
            sent, due, statuses, reasons, wall, errors = run_load(port, key, measured, RATE)
            cpu_ms = (workers_cpu_seconds(process.pid) - cpu_before) / count * 1e3
        finally:
            stop(process)  # gunicorn flushes its access log on the way out
        server_ms = server_times_ms(access_log)
    print(f"load average before the run: {load_before}")
    report(count, sent, due, statuses, reasons, wall, errors, server_ms, cpu_ms)


def report(count, sent, due, statuses, reasons, wall, errors, server_ms, cpu_ms) -> None:
    print(
        f"achieved: {len(sent):,} of {count:,} answers in {wall:.1f} s = "
        f"{len(sent) / wall:,.1f} req/s (target {RATE:.0f}); statuses {statuses}"
        + (f"; {len(errors)} errors, e.g. {errors[0]}" if errors else "")
    )
    print(f"answers: {', '.join(f'{k} {v:,}' for k, v in sorted(reasons.items()))}")
    p50, p99 = percentile(server_ms, 0.50), percentile(server_ms, 0.99)
    print(
        f"server time (gunicorn %(D)s, {len(server_ms):,} requests): p50 {p50:.2f} ms, "
        f"p90 {percentile(server_ms, 0.90):.2f} ms, p99 {p99:.2f} ms, "
        f"max {max(server_ms):.2f} ms"
    )
    print(f"server CPU (gunicorn workers, user + system): {cpu_ms:.2f} ms per request")
    print(
        f"client time from send: p50 {percentile(sent, 0.5) * 1e3:.2f} ms, "
        f"p99 {percentile(sent, 0.99) * 1e3:.2f} ms; from due time: "
        f"p50 {percentile(due, 0.5) * 1e3:.2f} ms, p99 {percentile(due, 0.99) * 1e3:.2f} ms"
    )
    ok = p50 <= TARGET_P50_MS and p99 <= TARGET_P99_MS and statuses == {200: count}
    print(
        f"targets: server p50 <= {TARGET_P50_MS:g} ms, p99 <= {TARGET_P99_MS:g} ms at "
        f"{RATE:.0f} req/s: {'PASS' if ok else 'FAIL'}"
    )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
