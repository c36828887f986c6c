"""Print dispatch throughput through the real Twilio client to the stand-in, two workers.

Needs a scratch PostgreSQL database (its consent, campaign and messaging tables are emptied and
refilled; the name must contain "bench") and, for the second half, Redis::

    createdb -h 127.0.0.1 -U postgres bench_dispatch
    DATABASE_URL=postgres://postgres@127.0.0.1/bench_dispatch \\
        .venv/bin/python bench/bench_dispatch.py

What it does:

1. Generates `BENCH_CONTACTS` contacts opted in to one program (bench_can_message's set-based
   generator: 10% opted out and 2% suppressed afterwards, so ~88% are queued by fan-out). Every
   contact lives in a time zone where it is now daytime, so the real quiet-hours rules run and
   allow the send; consents count as fresh (`REASSIGNED_CHECK_AFTER_DAYS` is set far out), so no
   reassigned-number lookups are made.
2. Starts the Twilio stand-in as its own process (`python -m tests.standin.twilio_standin`).
3. (a) Fans a campaign out and lets two plain worker processes loop `Dispatcher().run_batch()`
   until nothing is left; (b) fans out another campaign and runs a real `manage.py qcluster`
   (Redis broker `BENCH_Q2_BROKER`, default redis://127.0.0.1:6379/0, `Q2_WORKERS=2`) fed with
   `messaging.tasks.dispatch` tasks, which re-enqueue themselves while batches are full.
4. Prints, for each, messages/s from the start signal until no message is left open, the
   stand-in's receive rate, and the machine's CPU per message (all processes: workers,
   PostgreSQL, the stand-in and whatever else runs); checks every queued message was accepted
   exactly once.

Goal: >= 1,000 messages/s (docs/performance.md#tasks-django-q2: django-q2 tops out near
1,350 trivial tasks/s with Redis, so dispatch works in batches of `SMS_DISPATCH_BATCH`).

With BENCH_MODES=breakdown it runs one worker in the bench's own process, each step timed
(wall and CPU per message, and the PostgreSQL backend's and the stand-in's CPU): where the
time of a message goes.

With BENCH_LINKS=both the plain runs alternate between links as written and links tracked
(each message's short link made at hand-off, `messaging.links.LinkMaker`), and the ratio of the
medians is printed: tracking must stay within 10% of as-written ("on" or "off" runs one kind).

Environment: BENCH_CONTACTS (20000), BENCH_RUNS (3, medians printed), BENCH_MODES
("plain,qcluster"; "breakdown"), BENCH_LINKS ("off"; "on", "both"), BENCH_Q2_BROKER,
BENCH_PROFILE (a directory: each plain worker writes a cProfile of its run there).

`bench_mps.py` and `reliability_dispatch.py` reuse the stand-in process, the worker processes
and the data set-up defined here.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from tests.standin.twilio_standin import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN  # noqa: E402


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# Settings are read from the environment at django.setup(), here and in every worker process
# (spawned workers inherit the environment and import this module again: the port must not
# change, hence it is decided once and stored in the environment too).
os.environ.setdefault("BENCH_STANDIN_PORT", str(_free_port()))
STANDIN_URL = f"http://127.0.0.1:{os.environ['BENCH_STANDIN_PORT']}"
os.environ.update(
    SMS_BACKEND="twilio",
    TWILIO_ACCOUNT_SID=DEFAULT_ACCOUNT_SID,
    TWILIO_AUTH_TOKEN=DEFAULT_AUTH_TOKEN,
    TWILIO_API_BASE_URL=STANDIN_URL,
    TWILIO_LOOKUP_BASE_URL=STANDIN_URL,
    REASSIGNED_CHECK_AFTER_DAYS="36500",
    SMS_UNREGISTERED_SENDER="warn",  # the bench sender has no 10DLC registration
    LOG_LEVEL="WARNING",
    # Only the qcluster run uses the broker; plain workers never enqueue.
    Q2_BROKER=os.environ.get("BENCH_Q2_BROKER", "redis://127.0.0.1:6379/0"),
    Q2_WORKERS="2",
    Q2_SYNC="false",
)

import django  # noqa: E402

django.setup()

from bench_can_message import generate, require_scratch_postgres  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, connections  # noqa: E402
from django.db.models import Count  # noqa: E402
from django.utils import timezone  # noqa: E402

from campaigns.fanout import fanout_all  # noqa: E402
from campaigns.models import Audience, Campaign, CampaignVariant  # noqa: E402
from consent.models import Program  # noqa: E402
from messaging.models import OutboundMessage, Sender, SenderDailyUsage, SenderThrottle  # noqa: E402
from tests.factories import create_template, create_user, create_version  # noqa: E402

CONTACTS = int(os.environ.get("BENCH_CONTACTS", 20_000))
RUNS = int(os.environ.get("BENCH_RUNS", 3))
MODES = os.environ.get("BENCH_MODES", "plain,qcluster").split(",")
LINKS = {"off": [False], "on": [True], "both": [False, True]}[os.environ.get("BENCH_LINKS", "off")]
BODY = "Acme: hi {first_name|there}, 20% off at https://acme.example/sale Reply STOP to opt out"
#: Statuses a message may still leave: a campaign is finished when none of its rows has one.
OPEN = ("queued", "held", "sending")

# --- the stand-in, in its own process -------------------------------------------------------


class StandinProcess:
    """The Twilio stand-in as a child process, steered through its /_standin/ endpoints."""

    def __init__(self, url: str = STANDIN_URL) -> None:
        self.url = url
        self.process: subprocess.Popen | None = None
        # Loopback only: no proxy from the environment may see these requests.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def start(self) -> StandinProcess:
        port = self.url.rsplit(":", 1)[1]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.standin.twilio_standin", "--port", port],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 15
        while True:
            try:
                self.stats()
                return self
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def _call(self, method: str, path: str, payload: Any = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(  # noqa: S310 (our own loopback URL)
            f"{self.url}/_standin/{path}", data=data, method=method
        )
        with self._opener.open(request, timeout=60) as response:
            return json.loads(response.read())

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "stats")

    def received(self) -> list[dict[str, Any]]:
        """Every accepted message: sid, to, body, message_id, received_at (wall clock)..."""
        return self._call("GET", "received")

    def reset(self) -> None:
        self._call("POST", "reset", {})

    def configure(self, action: str, *args: Any, **kwargs: Any) -> Any:
        """Call a stand-in behaviour, e.g. `configure("fail_requests", 429, count=5)`."""
        return self._call("POST", "configure", {"action": action, "args": args, "kwargs": kwargs})


# --- worker processes -----------------------------------------------------------------------


def dispatch_worker(
    signals: tuple[Any, Any, Any],
    overrides: dict[str, Any],
    *,
    reconcile_every: float | None = None,
    gate_log: str | None = None,
    profile: str | None = None,
) -> None:
    """A worker process: say it is ready, loop `Dispatcher().run_batch()` from go to stop.

    `signals`: (ready queue, go event, stop event). `overrides` are settings for this process
    (e.g. a short `SMS_LEASE_SECONDS`). `reconcile_every` (seconds): also run
    `reconcile_expired_leases` that often, as the schedule does every minute in production.
    `gate_log`: a file to which the wall-clock time at which the last consent gate check of
    each contact started is written (JSON {contact_id: time}) on exit, so that a reliability
    check can tell a hand-off already in flight from a send after an opt-out.
    `profile`: a file for a cProfile of the run.
    """
    for name, value in overrides.items():
        setattr(settings, name, value)
    from messaging import dispatch
    from messaging.reconcile import reconcile_expired_leases

    gate_started: dict[int, float] = {}
    if gate_log:
        real_gate = dispatch.gate

        def timed_gate(**kwargs: Any) -> Any:
            gate_started[kwargs["contact_id"]] = time.time()
            return real_gate(**kwargs)

        dispatch.gate = timed_gate
    dispatcher = dispatch.Dispatcher()
    connection.ensure_connection()
    ready, go, stop = signals
    ready.put(os.getpid())
    go.wait()
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    next_reconcile = time.monotonic()
    try:
        while not stop.is_set():
            if reconcile_every is not None and time.monotonic() >= next_reconcile:
                reconcile_expired_leases()
                next_reconcile = time.monotonic() + reconcile_every
            if not dispatcher.run_batch().claimed:
                time.sleep(0.02)
    finally:
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(profile)
        if gate_log:
            Path(gate_log).write_text(json.dumps(gate_started))
        connections.close_all()


class Workers:
    """Spawned `dispatch_worker` processes sharing a ready queue, a go and a stop signal."""

    def __init__(self, n: int = 2, overrides: dict[str, Any] | None = None, **options: Any):
        self.context = multiprocessing.get_context("spawn")
        self.signals = (self.context.Queue(), self.context.Event(), self.context.Event())
        self.overrides = overrides or {}
        self.options = options
        self.processes: list[Any] = []
        for _ in range(n):
            self.add()

    def add(self, **options: Any) -> Any:
        """Start one more worker (before `go`, it waits like the others; after, it starts)."""
        process = self.context.Process(
            target=dispatch_worker,
            args=(self.signals, self.overrides),
            kwargs=self.options | options,
        )
        process.start()
        self.processes.append(process)
        return process

    def go(self) -> None:
        """Wait until every worker has set Django up and connected, then let them run."""
        for _ in self.processes:
            self.signals[0].get(timeout=60)
        self.signals[1].set()

    def stop(self) -> None:
        self.signals[2].set()
        for process in self.processes:
            process.join(60)
            if process.is_alive():
                process.kill()


# --- data -----------------------------------------------------------------------------------


def daytime_zone() -> str:
    """A US zone where it is now between 10:00 and 18:00, so quiet hours allow sending."""
    now = timezone.now()
    for name in ("America/New_York", "America/Chicago", "America/Los_Angeles",
                 "Pacific/Honolulu", "Pacific/Guam", "America/Puerto_Rico"):  # fmt: skip
        if 10 <= now.astimezone(ZoneInfo(name)).hour < 18:
            return name
    return "Pacific/Guam"


def prepare(contacts: int) -> Program:
    """Empty the tables, generate the contacts (see the module docstring); returns the program."""
    require_scratch_postgres()
    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        # Before generating: auth_user's cascade reaches the consent ledger (recorded_by).
        cursor.execute(
            "TRUNCATE campaigns_campaign, campaigns_audience, templates_messagetemplate, "
            "messaging_messageevent, messaging_outboundmessage, messaging_sender, auth_user "
            "CASCADE"
        )
    print(f"Generating {contacts:,} contacts ...")
    program = generate(contacts)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE consent_contact SET time_zone = %s", [daytime_zone()])
        cursor.execute("ANALYZE consent_contact")
    return program


def make_sender(program: Program, *, mps: float = 100_000.0, daily_cap: int | None = None):
    """A sender for `program`, with a fresh token bucket and no usage counted today."""
    sender, _ = Sender.objects.update_or_create(
        phone_number="+18335550100",
        defaults={"name": "Bench", "mps": mps, "daily_segment_cap": daily_cap, "active": True},
    )
    sender.programs.add(program)
    SenderThrottle.objects.filter(sender=sender).delete()
    SenderDailyUsage.objects.filter(sender=sender).delete()
    return sender


def make_campaign(
    program: Program,
    sender: Sender,
    *,
    throttle_mps: float | None = None,
    filters: dict[str, Any] | None = None,
    link_tracking: bool = False,
):
    """A campaign to every contact (or `filters`), `sending`, fanned out: (campaign, queued)."""
    owner = create_user(f"bench{time.time_ns()}")
    # Usernames unique across runs: the factories' counter restarts in every process.
    version = create_version(
        create_template(program, owner=owner, name=f"Bench {time.time_ns()}"), body=BODY
    )
    version.submit(by=owner)
    version.approve(by=create_user(f"reviewer{time.time_ns()}"))
    audience = Audience.objects.create(name=f"Bench {time.time_ns()}", filters=filters or {})
    campaign = Campaign.objects.create(
        name=f"Bench {time.time_ns()}",
        program=program,
        audience=audience,
        created_by=owner,
        status="sending",
        launched_at=timezone.now() - timedelta(seconds=1),
        throttle_mps=throttle_mps,
        link_tracking=link_tracking,
    )
    campaign.senders.add(sender)
    CampaignVariant.objects.create(campaign=campaign, label="A", template_version=version)
    fanout_all(campaign)
    queued = OutboundMessage.objects.filter(campaign=campaign, status="queued").count()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE messaging_outboundmessage")
    return campaign, queued


def statuses(campaign: Campaign) -> dict[str, int]:
    rows = OutboundMessage.objects.filter(campaign=campaign).values_list("status")
    return dict(rows.annotate(n=Count("id")).order_by())


def wait_until_done(campaign: Campaign, *, timeout: float, poll: float = 0.2) -> float:
    """Wait until no message of the campaign is open; returns the monotonic time it was seen."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not OutboundMessage.objects.filter(campaign=campaign, status__in=OPEN).exists():
            return time.monotonic()
        time.sleep(poll)
    raise AssertionError(f"campaign {campaign.pk} not finished in {timeout:.0f} s: "
                         f"{statuses(campaign)}")  # fmt: skip


def receive_rate(received: list[dict[str, Any]]) -> float:
    """Messages/s between the stand-in's first and last accept."""
    times = sorted(item["received_monotonic"] for item in received)
    return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0


def cpu_seconds(pid: int | None = None) -> float:
    """CPU seconds used so far by a process (user + system), or by the whole machine."""
    ticks = os.sysconf("SC_CLK_TCK")
    if pid is None:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
        busy = sum(int(v) for i, v in enumerate(fields) if i not in (3, 4))  # not idle/iowait
        return busy / ticks
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / ticks


def check_exactly_once(campaign: Campaign, received: list[dict[str, Any]], queued: int) -> None:
    ids = [item["message_id"] for item in received]
    assert len(ids) == len(set(ids)), f"{len(ids) - len(set(ids))} messages accepted twice"
    sent = OutboundMessage.objects.filter(campaign=campaign, status="sent")
    sent = set(sent.values_list("pk", flat=True))
    assert sent == set(ids), f"sent {len(sent):,} vs accepted {len(set(ids)):,}"
    assert len(sent) == queued, f"sent {len(sent):,} of {queued:,} queued: {statuses(campaign)}"


# --- the two ways to run dispatch -----------------------------------------------------------


class Run:
    """Times one dispatch run and prints its figures."""

    def __init__(self, label: str, standin: StandinProcess) -> None:
        self.label, self.standin = label, standin

    def __enter__(self) -> Run:
        self.machine, self.standin_cpu = cpu_seconds(), cpu_seconds(self.standin.process.pid)
        self.start = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.monotonic() - self.start
        self.machine = cpu_seconds() - self.machine
        self.standin_cpu = cpu_seconds(self.standin.process.pid) - self.standin_cpu

    def report(self, campaign: Campaign, queued: int) -> float:
        received = self.standin.received()
        check_exactly_once(campaign, received, queued)
        rate = queued / self.seconds
        per_message = self.machine / queued * 1e3
        print(
            f"{self.label}: {queued:,} messages in {self.seconds:.1f} s = {rate:,.0f}/s "
            f"(stand-in's first to last accept: {receive_rate(received):,.0f}/s); machine CPU "
            f"{self.machine / self.seconds / (os.cpu_count() or 1):.0%} busy, "
            f"{per_message:.2f} ms CPU per message, of which the stand-in "
            f"{self.standin_cpu / queued * 1e3:.2f} ms"
        )
        return rate


def run_plain(
    program: Program, sender: Sender, standin: StandinProcess, *, tracking: bool = False
) -> float:
    """(a) Two worker processes looping `Dispatcher().run_batch()`."""
    campaign, queued = make_campaign(program, sender, link_tracking=tracking)
    standin.reset()
    profile_dir = os.environ.get("BENCH_PROFILE")
    workers = Workers(0)
    for n in range(2):
        workers.add(profile=str(Path(profile_dir) / f"worker{n}.prof") if profile_dir else None)
    try:
        with Run(f"(a) 2 plain workers, links {'tracked' if tracking else 'as written'}",
                 standin) as run:  # fmt: skip
            workers.go()
            wait_until_done(campaign, timeout=900, poll=0.05)
    finally:
        workers.stop()
    rate = run.report(campaign, queued)
    if tracking:  # every message went out with its own short link
        sent = OutboundMessage.objects.filter(campaign=campaign, status="sent")
        assert not sent.exclude(body__contains=f"https://{settings.SMS_LINK_DOMAIN}/").exists()
    return rate


def run_qcluster(program: Program, sender: Sender, standin: StandinProcess) -> float:
    """(b) `manage.py qcluster` (2 workers, Redis) fed with `messaging.tasks.dispatch` tasks."""
    from django_q.brokers import get_broker
    from django_q.status import Stat
    from django_q.tasks import async_task

    campaign, queued = make_campaign(program, sender)
    standin.reset()
    broker = get_broker()
    broker.purge_queue()  # tasks a crashed earlier run left behind
    cluster = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not any(stat.status == "Idle" for stat in Stat.get_all(broker=broker)):
            assert time.monotonic() < deadline, "qcluster did not come up"
            time.sleep(0.2)
        with Run("(b) qcluster, 2 workers, Redis", standin) as run:
            # As campaigns.tasks.fanout_campaign does: two chains of batches, each task queueing
            # the next while its batch was full.
            for _ in range(2):
                async_task("messaging.tasks.dispatch", broker=broker, timeout=110)
            wait_until_done(campaign, timeout=900, poll=0.05)
    finally:
        cluster.terminate()
        cluster.wait(30)
    return run.report(campaign, queued)


class Stopwatch:
    """Wall and CPU seconds spent inside wrapped functions, by name."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    def wrap(self, name: str, function: Any) -> Any:
        def timed(*args: Any, **kwargs: Any) -> Any:
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                self.wall[name] = self.wall.get(name, 0) + time.perf_counter() - wall
                self.cpu[name] = self.cpu.get(name, 0) + time.process_time() - cpu

        return timed


def run_breakdown(program: Program, sender: Sender, standin: StandinProcess) -> float:
    """One worker in this process, each step timed: where a message's time goes."""
    from messaging import dispatch, throttle

    campaign, queued = make_campaign(program, sender)
    standin.reset()
    watch = Stopwatch()
    dispatcher = dispatch.Dispatcher()
    patched = [
        (dispatch, "claim_due", "claim (SKIP LOCKED + UPDATE + SELECT)"),
        (dispatch, "_opted_in_dates", "consent dates for the reassigned check"),
        (dispatcher, "_screen", "policy hold, sender, reassigned check"),
        (throttle, "reserve_daily_segments", "daily cap"),
        (throttle, "acquire", "token bucket"),
        (dispatch, "gate", "consent gate"),
        (dispatcher.backend, "send", "HTTP: twilio client + stand-in"),
        (dispatch, "_settle_sent", "settle: lock, UPDATE, event INSERT, commit"),
    ]
    originals = [(owner, name, getattr(owner, name)) for owner, name, _ in patched]
    for owner, name, label in patched:
        setattr(owner, name, watch.wrap(label, getattr(owner, name)))
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend_pid = cursor.fetchone()[0]
    database = cpu_seconds(backend_pid)
    stand_in = cpu_seconds(standin.process.pid)
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        while dispatcher.run_batch().claimed:
            pass
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    database = cpu_seconds(backend_pid) - database
    stand_in = cpu_seconds(standin.process.pid) - stand_in
    check_exactly_once(campaign, standin.received(), queued)
    print(f"(c) 1 worker in this process, {queued:,} messages: {queued / wall:,.0f}/s")
    print(f"  {'per message':<45}{'wall ms':>9}{'worker CPU ms':>15}")
    for label in watch.wall:
        print(
            f"  {label:<45}{watch.wall[label] / queued * 1e3:>9.3f}"
            f"{watch.cpu[label] / queued * 1e3:>15.3f}"
        )
    rest_wall = wall - sum(watch.wall.values())
    rest_cpu = cpu - sum(watch.cpu.values())
    print(f"  {'the rest of the loop':<45}{rest_wall / queued * 1e3:>9.3f}"
          f"{rest_cpu / queued * 1e3:>15.3f}")  # fmt: skip
    print(f"  {'total':<45}{wall / queued * 1e3:>9.3f}{cpu / queued * 1e3:>15.3f}")
    print(
        f"  CPU elsewhere per message: PostgreSQL backend {database / queued * 1e3:.3f} ms, "
        f"stand-in {stand_in / queued * 1e3:.3f} ms"
    )
    return queued / wall


def main() -> None:
    program = prepare(CONTACTS)
    sender = make_sender(program)
    standin = StandinProcess().start()
    try:
        print(
            f"batch {settings.SMS_DISPATCH_BATCH}, {RUNS} run(s) each; load average before "
            f"{os.getloadavg()[0]:.2f}"
        )
        if "plain" in MODES:
            rates: dict[bool, list[float]] = {tracking: [] for tracking in LINKS}
            for _ in range(RUNS):
                for tracking in LINKS:
                    rates[tracking].append(run_plain(program, sender, standin, tracking=tracking))
            for tracking in LINKS:
                print(
                    f"  plain, links {'tracked' if tracking else 'as written'}: median "
                    f"{statistics.median(rates[tracking]):,.0f} messages/s"
                )
            if len(LINKS) == 2:
                ratio = statistics.median(rates[True]) / statistics.median(rates[False])
                print(f"  tracked / as written: {ratio:.2f}")
        modes = (("qcluster", run_qcluster), ("breakdown", run_breakdown))
        for mode, run in modes:
            if mode in MODES:
                rates = [run(program, sender, standin) for _ in range(RUNS)]
                print(f"  {mode}: median {statistics.median(rates):,.0f} messages/s")
        print(f"load average after {os.getloadavg()[0]:.2f}")
    finally:
        standin.stop()


if __name__ == "__main__":
    main()
