"""Check that two workers keep a sender's messages-per-second and its daily cap (PostgreSQL).

Needs a scratch PostgreSQL database (its consent, campaign and messaging tables are emptied and
refilled; the name must contain "bench")::

    createdb -h 127.0.0.1 -U postgres bench_dispatch
    DATABASE_URL=postgres://postgres@127.0.0.1/bench_dispatch .venv/bin/python bench/bench_mps.py

1. Rate: a sender with `mps` = BENCH_MPS (50), two worker processes looping
   `Dispatcher().run_batch()` through the real Twilio client to the stand-in (its own process)
   for BENCH_SECONDS (60) with more queued than they can send. Prints the stand-in's receive
   rate over the minute from its first accept (the bucket starts full: one second of burst is
   part of the figure), without that first second, per 10-second slice and the busiest second;
   asserts the rate over the minute is within ±5% of `mps`.
2. Daily cap: a sender with `daily_segment_cap` = BENCH_CAP (500) and a high rate; two workers
   run until nothing moves. Asserts exactly the cap was accepted (one segment each), the
   usage counter says so, and every other message is held until midnight UTC (`daily_cap`).

Exits non-zero when an assertion fails. Environment: BENCH_MPS, BENCH_SECONDS, BENCH_CAP.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_dispatch import (
    StandinProcess,
    Workers,
    make_campaign,
    make_sender,
    prepare,
    statuses,
)

from messaging.models import OutboundMessage, SenderDailyUsage

MPS = float(os.environ.get("BENCH_MPS", 50))
SECONDS = float(os.environ.get("BENCH_SECONDS", 60))
CAP = int(os.environ.get("BENCH_CAP", 500))


def rate_over(times: list[float], start: float, end: float) -> float:
    return sum(start <= t < end for t in times) / (end - start)


def check_rate(program, standin: StandinProcess) -> None:
    sender = make_sender(program, mps=MPS)
    campaign, queued = make_campaign(program, sender)
    assert queued > MPS * SECONDS * 1.2, f"only {queued} queued: raise BENCH_CONTACTS"
    standin.reset()
    workers = Workers(2)
    workers.go()
    time.sleep(SECONDS + 3)
    workers.stop()
    times = sorted(item["received_monotonic"] for item in standin.received())
    first = times[0]
    minute = rate_over(times, first, first + SECONDS)
    settled = rate_over(times, first + 1, first + SECONDS)
    slices = [rate_over(times, first + s, first + s + 10) for s in range(0, int(SECONDS), 10)]
    busiest = max(rate_over(times, first + s, first + s + 1) for s in range(int(SECONDS)))
    error = (minute - MPS) / MPS
    print(
        f"rate: mps={MPS:g}, 2 workers, {SECONDS:g} s: {minute:.2f}/s over the minute "
        f"({error:+.1%}), {settled:.2f}/s after the first second; per 10 s: "
        f"{', '.join(f'{r:.1f}' for r in slices)}; busiest second {busiest:.0f}"
    )
    OutboundMessage.objects.filter(campaign=campaign, status__in=("queued", "held")).update(
        status="cancelled", reason="campaign_cancelled"
    )
    assert abs(error) <= 0.05, f"receive rate {minute:.2f}/s is not within 5% of {MPS:g}/s"


def check_daily_cap(program, standin: StandinProcess) -> None:
    sender = make_sender(program, mps=1_000, daily_cap=CAP)
    campaign, queued = make_campaign(program, sender)
    assert queued > CAP
    standin.reset()
    workers = Workers(2)
    workers.go()
    deadline = time.monotonic() + 120
    open_rows = OutboundMessage.objects.filter(campaign=campaign, status__in=("queued", "sending"))
    while open_rows.exists():
        assert time.monotonic() < deadline, f"daily cap run did not settle: {statuses(campaign)}"
        time.sleep(0.2)
    workers.stop()
    accepted = len(standin.received())
    usage = SenderDailyUsage.objects.get(sender=sender).segments
    outcome = statuses(campaign)
    held = OutboundMessage.objects.filter(campaign=campaign, status="held", reason="daily_cap")
    print(
        f"daily cap {CAP}: accepted {accepted}, usage counted {usage}, statuses {outcome}, "
        f"held until {held.values_list('next_attempt_at', flat=True).first()}"
    )
    assert accepted == CAP == usage, "the daily cap was not kept exactly"
    assert outcome.get("sent") == CAP and held.count() == outcome.get("held")


def main() -> None:
    program = prepare(int(os.environ.get("BENCH_CONTACTS", 5_000)))
    standin = StandinProcess().start()
    try:
        check_rate(program, standin)
        check_daily_cap(program, standin)
    finally:
        standin.stop()


if __name__ == "__main__":
    main()
