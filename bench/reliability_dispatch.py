"""Dispatch reliability at full size, with asserted outcomes (PostgreSQL; non-zero exit on failure).

Needs a scratch PostgreSQL database (its consent, campaign and messaging tables are emptied and
refilled; the name must contain "bench")::

    createdb -h 127.0.0.1 -U postgres bench_reliability
    DATABASE_URL=postgres://postgres@127.0.0.1/bench_reliability \\
        .venv/bin/python bench/reliability_dispatch.py

Two worker processes loop `Dispatcher().run_batch()` through the real Twilio client against
the stand-in (its own process); contacts come from bench_can_message's generator (88% of them
eligible, the rest excluded at fan-out), one cohort per scenario:

1. optouts: a campaign to BENCH_RECIPIENTS (100,000) contacts while BENCH_OPTOUTS (1,000)
   opt-outs commit through `consent_revoke` at random moments from this process (spread over
   the run by its observed pace; every other one strikes a message claimed right then).
   Asserts: nothing reached the stand-in after its opt-out committed unless it was already in
   flight, meaning its consent gate check started before the commit (each worker records the
   wall-clock start of every gate check); no message twice; every queued message ended sent,
   blocked (`opted_out`) or cancelled (`cancelled_by_opt_out`), and everyone who did not opt
   out got theirs.
2. kill: BENCH_KILL_RECIPIENTS (20,000) contacts; three times, at about a quarter, half and
   three quarters of the way, one worker is killed with SIGKILL while it holds a claimed batch,
   and a new one is started. `SMS_LEASE_SECONDS` is 5 and workers reconcile expired leases
   every second. Asserts: every queued message sent exactly once, leases were reconciled,
   none left for a person.
3. failures: BENCH_FAILURE_RECIPIENTS (10,000) contacts while the stand-in answers 429 with
   Retry-After, then 500, then 500 after accepting the message, then slower than the client's
   timeout, then refuses connections, 3 s each (backoff 0.5 s doubling to 4 s, 30 attempts).
   Asserts: every queued message sent exactly once; retries logged for each failure kind with
   their delays, Retry-After honoured, no attempt before its delay; messages whose outcome was
   unknown were found by lookup instead of being sent again.

BENCH_SCENARIOS ("optouts,kill,failures") picks which run.
"""

from __future__ import annotations

import http.client
import itertools
import json
import os
import random
import signal
import sys
import tempfile
import time
import traceback
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_dispatch import (
    OPEN,
    StandinProcess,
    Workers,
    make_campaign,
    make_sender,
    prepare,
    wait_until_done,
)
from django.db import connection
from django.db.models import Count

from consent.models import Contact
from consent.services import consent_revoke
from messaging.models import MessageEvent, OutboundMessage

RECIPIENTS = int(os.environ.get("BENCH_RECIPIENTS", 100_000))
OPTOUTS = int(os.environ.get("BENCH_OPTOUTS", 1_000))
KILL_RECIPIENTS = int(os.environ.get("BENCH_KILL_RECIPIENTS", 20_000))
FAILURE_RECIPIENTS = int(os.environ.get("BENCH_FAILURE_RECIPIENTS", 10_000))
SCENARIOS = os.environ.get("BENCH_SCENARIOS", "optouts,kill,failures").split(",")


def cohort(name: str) -> dict[str, Any]:
    return {"attributes": {"cohort": name}}


def split_cohorts() -> None:
    """Contacts 1..N (the generator restarts ids) go to the scenarios' cohorts, in order."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE consent_contact SET attributes = jsonb_build_object('cohort', CASE "
            "WHEN id <= %s THEN 'optouts' WHEN id <= %s THEN 'kill' ELSE 'failures' END)",
            [RECIPIENTS, RECIPIENTS + KILL_RECIPIENTS],
        )


def outcomes(campaign) -> dict[tuple[str, str], int]:
    rows = OutboundMessage.objects.filter(campaign=campaign).values_list("status", "reason")
    return {(s, r): n for s, r, n in rows.annotate(n=Count("id")).order_by()}


def check_exactly_once(campaign, received: list[dict[str, Any]]) -> set[int]:
    """Every message accepted once, and recorded `sent` here with the SID it got."""
    ids = [item["message_id"] for item in received]
    twice = len(ids) - len(set(ids))
    assert not twice, f"{twice} messages reached the stand-in more than once"
    sent = dict(
        OutboundMessage.objects.filter(campaign=campaign, status="sent").values_list(
            "pk", "provider_sid"
        )
    )
    accepted = {item["message_id"]: item["sid"] for item in received}
    assert sent == accepted, (
        f"{len(set(sent) - set(accepted))} sent here but not accepted there, "
        f"{len(set(accepted) - set(sent))} accepted there but not sent here"
    )
    return set(sent)


# --- 1. opt-outs at random moments ----------------------------------------------------------


def opt_out_at_random_moments(campaign, program, standin, queued: int) -> dict[int, float]:
    """OPTOUTS opt-outs spread over the run; returns contact id -> commit time (wall clock)."""
    rng = random.Random(OPTOUTS)
    contacts = list(
        OutboundMessage.objects.filter(campaign=campaign, status="queued").values_list(
            "contact_id", flat=True
        )
    )
    revoked: dict[int, float] = {}
    start = time.monotonic()
    while len(revoked) < OPTOUTS:
        # Pace by what is left: the opt-outs should keep landing until the campaign is done.
        accepted = standin.stats()["accepted"]
        elapsed = time.monotonic() - start
        left = max(queued - accepted, 0) * elapsed / max(accepted, 1)
        time.sleep(rng.uniform(0, 2 * left / (OPTOUTS - len(revoked))) if accepted else 0.01)
        contact_id = None
        if len(revoked) % 2 == 0:
            in_flight = list(
                OutboundMessage.objects.filter(campaign=campaign, status="sending").values_list(
                    "contact_id", flat=True
                )[:200]
            )
            in_flight = [c for c in in_flight if c not in revoked]
            contact_id = rng.choice(in_flight) if in_flight else None
        if contact_id is None:
            contact_id = rng.choice(contacts)
            if contact_id in revoked:
                continue
        consent_revoke(
            contact=Contact.objects.get(pk=contact_id),
            programs=[program],
            method="keyword",
            source="STOP",
        )
        revoked[contact_id] = time.time()  # committed: consent_revoke's transaction has ended
    return revoked


def scenario_optouts(program, sender, standin: StandinProcess) -> None:
    campaign, queued = make_campaign(program, sender, filters=cohort("optouts"))
    queued_ids = set(
        OutboundMessage.objects.filter(campaign=campaign, status="queued").values_list(
            "pk", flat=True
        )
    )
    standin.reset()
    logs = Path(tempfile.mkdtemp(prefix="reliability-"))
    workers = Workers(0)
    for n in range(2):
        workers.add(gate_log=str(logs / f"gate{n}.json"))
    workers.go()
    start = time.monotonic()
    try:
        revoked = opt_out_at_random_moments(campaign, program, standin, queued)
        wait_until_done(campaign, timeout=3_600)
    finally:
        workers.stop()
    elapsed = time.monotonic() - start
    gate_started: dict[int, float] = {}
    for path in logs.glob("gate*.json"):
        gate_started |= {int(k): v for k, v in json.loads(path.read_text()).items()}
    received = standin.received()
    sent = check_exactly_once(campaign, received)
    contact_of = dict(
        OutboundMessage.objects.filter(campaign=campaign).values_list("pk", "contact_id")
    )
    in_flight, violations = [], []
    for item in received:
        contact_id = contact_of[item["message_id"]]
        started = gate_started[contact_id]
        assert started < item["received_at"], "a gate check is logged after its send"
        committed = revoked.get(contact_id)
        if committed is None or item["received_at"] <= committed:
            continue
        if started <= committed:
            in_flight.append((item["received_at"] - committed, item["received_at"] - started))
        else:
            violations.append(item["message_id"])
    # Only what fan-out queued: the rest was blocked there, before dispatch.
    result: dict[tuple[str, str], int] = {}
    for pk, status, reason in OutboundMessage.objects.filter(campaign=campaign).values_list(
        "pk", "status", "reason"
    ):
        if pk in queued_ids:
            result[(status, reason)] = result.get((status, reason), 0) + 1
    print(
        f"optouts: {queued:,} queued, {len(revoked):,} opt-outs, 2 workers, {elapsed:.0f} s "
        f"({queued / elapsed:,.0f}/s): {result}"
    )
    print(
        f"  accepted after their opt-out committed: {len(in_flight) + len(violations)}, of "
        f"which in flight (gate checked before the commit) {len(in_flight)}"
        + (
            f", arriving at most {max(a for a, _ in in_flight) * 1e3:.1f} ms after the commit "
            f"and {max(b for _, b in in_flight) * 1e3:.1f} ms after their gate check"
            if in_flight
            else ""
        )
    )
    assert not violations, f"{len(violations)} messages sent after their opt-out: {violations[:5]}"
    assert set(result) <= {
        ("sent", ""),
        ("blocked", "opted_out"),
        ("cancelled", "cancelled_by_opt_out"),
    }, f"unexpected outcomes {result}"
    revoked_ids = {pk for pk, contact_id in contact_of.items() if contact_id in revoked}
    missing = queued_ids - revoked_ids - sent
    assert not missing, f"{len(missing)} messages of people who did not opt out were not sent"


# --- 2. kill -9 mid-batch --------------------------------------------------------------------


def scenario_kill(program, sender, standin: StandinProcess) -> None:
    campaign, queued = make_campaign(program, sender, filters=cohort("kill"))
    standin.reset()
    workers = Workers(2, {"SMS_LEASE_SECONDS": 5}, reconcile_every=1.0)
    workers.go()
    rng = random.Random(9)
    start = time.monotonic()
    try:
        for share in (0.25, 0.5, 0.75):
            while standin.stats()["accepted"] < queued * share:
                time.sleep(0.02)
            victim = rng.choice([p for p in workers.processes if p.is_alive()])
            while not OutboundMessage.objects.filter(campaign=campaign, status="sending").exists():
                time.sleep(0.005)
            os.kill(victim.pid, signal.SIGKILL)
            victim.join(10)
            assert victim.exitcode == -signal.SIGKILL
            stranded = OutboundMessage.objects.filter(campaign=campaign, status="sending").count()
            print(f"  killed a worker at {share:.0%} with {stranded} rows in sending; restarted")
            workers.add()
        wait_until_done(campaign, timeout=1_800)
    finally:
        workers.stop()
    elapsed = time.monotonic() - start
    sent = check_exactly_once(campaign, standin.received())
    reconciled = dict(
        MessageEvent.objects.filter(message__campaign=campaign, kind="reconciled")
        .values_list("reason")
        .annotate(n=Count("id"))
        .order_by()
    )
    released = MessageEvent.objects.filter(
        message__campaign=campaign, kind="released", reason="lease_ending"
    ).count()
    print(
        f"kill: {queued:,} queued, {len(sent):,} sent once each in {elapsed:.0f} s; "
        f"reconciled {reconciled}; released untried at lease end {released}"
    )
    assert len(sent) == queued, f"{queued - len(sent)} messages not sent: {outcomes(campaign)}"
    assert sum(reconciled.values()) >= 1, "no lease was reconciled: nothing was killed mid-batch?"
    assert "unknown_held" not in reconciled


# --- 3. 429, 500, timeouts, refused connections ----------------------------------------------


def scenario_failures(program, sender, standin: StandinProcess) -> None:
    campaign, queued = make_campaign(program, sender, filters=cohort("failures"))
    standin.reset()
    overrides = {
        "SMS_BACKOFF_BASE": 0.5,
        "SMS_BACKOFF_MAX": 4.0,
        "SMS_MAX_ATTEMPTS": 30,
        "TWILIO_TIMEOUT": 0.5,
    }
    workers = Workers(2, overrides)
    workers.go()
    start = time.monotonic()
    try:
        for action, args, kwargs in (
            ("fail_requests", [429], {"seconds": 3, "retry_after": 1}),
            ("fail_requests", [500], {"seconds": 3}),
            ("fail_requests", [500], {"seconds": 3, "accept": True}),
            ("slow", [1.0], {"seconds": 3}),
            ("down", ["refused"], {"seconds": 3}),
        ):
            try:
                standin.configure(action, *args, **kwargs)
            except (http.client.RemoteDisconnected, ConnectionError):
                assert action == "down"  # it drops every open connection, this one included
            time.sleep(3.2)
        wait_until_done(campaign, timeout=1_800)
    finally:
        workers.stop()
    elapsed = time.monotonic() - start
    sent = check_exactly_once(campaign, standin.received())
    assert len(sent) == queued, f"{queued - len(sent)} messages not sent: {outcomes(campaign)}"
    events = list(
        MessageEvent.objects.filter(message__campaign=campaign)
        .order_by("message_id", "at", "id")
        .values_list("message_id", "kind", "at", "data")
    )
    by_status: dict[Any, int] = {}
    delays: list[float] = []
    for (mid, kind, at, data), (next_mid, _, next_at, _) in itertools.pairwise(events):
        if kind != "retried":
            continue
        by_status[data["http_status"]] = by_status.get(data["http_status"], 0) + 1
        delays.append(data["delay_seconds"])
        if data["http_status"] == 429:
            assert data["delay_seconds"] >= 1, "Retry-After was not honoured"
        if mid == next_mid:
            assert next_at >= at + timedelta(seconds=data["delay_seconds"] - 0.05), (
                f"message {mid} was tried again before its backoff had passed"
            )
    found = sum(1 for _, kind, _, data in events if kind == "sent" and data.get("found_by_lookup"))
    attempts = OutboundMessage.objects.filter(campaign=campaign).values_list("attempts", flat=True)
    print(
        f"failures: {queued:,} queued, all sent once each in {elapsed:.0f} s; retries by HTTP "
        f"status {by_status} (None: timeouts and refused connections); delays "
        f"{min(delays):.2f}-{max(delays):.2f} s; found by lookup instead of resent {found}; "
        f"most attempts {max(attempts)}; stand-in requests {standin.stats()['requests']}"
    )
    assert {429, 500, None} <= set(by_status), f"missing failure kinds: {by_status}"
    assert found >= 1, "no unknown outcome was looked up"


def main() -> None:
    program = prepare(RECIPIENTS + KILL_RECIPIENTS + FAILURE_RECIPIENTS)
    split_cohorts()
    sender = make_sender(program)
    standin = StandinProcess().start()
    failed = []
    try:
        for name, scenario in (
            ("optouts", scenario_optouts),
            ("kill", scenario_kill),
            ("failures", scenario_failures),
        ):
            if name not in SCENARIOS:
                continue
            try:
                scenario(program, sender, standin)
                print(f"{name}: OK")
            except AssertionError:
                traceback.print_exc()
                print(f"{name}: FAILED")
                failed.append(name)
            # Whatever a failed scenario left open must not leak into the next one.
            OutboundMessage.objects.filter(status__in=OPEN).update(
                status="cancelled", reason="campaign_cancelled", lease_expires_at=None
            )
    finally:
        standin.stop()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
