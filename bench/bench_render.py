"""Print renders/s for compiled message templates (goal: >= 500k/s for a 3-token body, 1 core).

Run from the project root: ``.venv/bin/python bench/bench_render.py``. No Django needed.
Reports the best of several runs, next to ``str.format`` on the same body as a yardstick.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from templates.rendering import compile_template

RUNS = 5
N = 200_000


def best_rate(fn: Callable[[], object], n: int = N, runs: int = RUNS) -> float:
    """Best renders/s over `runs` timed loops of `n` calls."""
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, time.perf_counter() - start)
    return n / best


def main() -> None:
    body = (
        "Hi {first_name|there}, your {attr.loyalty_tier} reward is ready at {attr.store}. "
        "Acme: Reply STOP to opt out"
    )
    values = {"first_name": "O'Brien", "attr.loyalty_tier": "Gold", "attr.store": "Main St"}
    template = compile_template(body)

    fmt = "Hi {0}, your {1} reward is ready at {2}. Acme: Reply STOP to opt out"
    fmt_args = ("O'Brien", "Gold", "Main St")

    dt_body = "Hi {first_name}, see you {event.appointment_at} ({event.appointment_at:time})."
    dt_values = {
        "first_name": "Ann",
        "event.appointment_at": datetime(2026, 11, 24, 20, 30, tzinfo=UTC),
    }
    dt_template = compile_template(dt_body)
    tz = ZoneInfo("America/New_York")

    rows = [
        ("3 tokens, str values", best_rate(lambda: template.render(values))),
        ("str.format, same body", best_rate(lambda: fmt.format(*fmt_args))),
        ("3 tokens, 2 datetimes -> tz", best_rate(lambda: dt_template.render(dt_values, tz))),
    ]
    print(f"{'case':<32}{'renders/s':>14}{'us/render':>12}")
    for label, rate in rows:
        print(f"{label:<32}{rate:>14,.0f}{1e6 / rate:>12.2f}")
    print(template.render(values))
    print(dt_template.render(dt_values, tz))


if __name__ == "__main__":
    main()
