"""Which variant of a campaign did better, and whether the difference can be trusted.

The rule (docs/reports.md): the metric is the conversion rate if any variant converted, else
the human click rate if any was clicked, else the reply rate; each over the variant's delivered
messages (its sent messages while nothing is delivered yet). The variant with the best rate is
named the winner only if a two-sided two-proportion z-test (pooled standard error) against
every other variant gives p < 0.05 / (number of variants - 1) (Bonferroni), and every variant
has at least `MIN_OUTCOMES` successes and as many failures (the normal approximation needs
them). Otherwise there is no winner yet, and the page says why.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

ALPHA = 0.05
MIN_OUTCOMES = 5
METRICS = [
    ("conversions", "Conversion rate"),
    ("clicks_human", "Human click rate"),
    ("replies", "Reply rate"),
]


def two_proportion_p(s1: int, n1: int, s2: int, n2: int) -> float:
    """Two-sided p-value of the pooled two-proportion z-test (1.0 when undefined)."""
    if not n1 or not n2:
        return 1.0
    pooled = (s1 + s2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0
    z = (s1 / n1 - s2 / n2) / se
    return math.erfc(abs(z) / math.sqrt(2))


@dataclass
class Comparison:
    metric: str
    metric_label: str
    rows: list[dict] = field(default_factory=list)
    winner: str | None = None
    p_value: float | None = None
    note: str = ""


def compare_variants(variants: Sequence[tuple[str, Mapping[str, int]]]) -> Comparison:
    """Compare (label, counts) pairs under the module's rule."""
    metric, label = METRICS[-1]
    for key, name in METRICS:
        if any(counts.get(key, 0) for _, counts in variants):
            metric, label = key, name
            break
    comparison = Comparison(metric=metric, metric_label=label)
    for name, counts in variants:
        trials = counts.get("delivered", 0) or counts.get("sent", 0)
        successes = min(counts.get(metric, 0), trials)
        comparison.rows.append(
            {
                "label": name,
                "successes": successes,
                "trials": trials,
                "rate": successes / trials if trials else 0.0,
            }
        )
    if len(comparison.rows) < 2:
        comparison.note = "One variant: nothing to compare."
        return comparison
    small = [
        r["label"]
        for r in comparison.rows
        if r["successes"] < MIN_OUTCOMES or r["trials"] - r["successes"] < MIN_OUTCOMES
    ]
    if small:
        comparison.note = (
            f"Too few outcomes to compare (variant {', '.join(small)}): no winner yet."
        )
        return comparison
    best = max(comparison.rows, key=lambda r: r["rate"])
    threshold = ALPHA / (len(comparison.rows) - 1)
    worst_p = max(
        two_proportion_p(best["successes"], best["trials"], r["successes"], r["trials"])
        for r in comparison.rows
        if r is not best
    )
    comparison.p_value = worst_p
    if worst_p < threshold:
        comparison.winner = best["label"]
        comparison.note = f"Variant {best['label']} wins (p = {worst_p:.3g} < {threshold:.3g})."
    else:
        comparison.note = (
            f"No significant difference yet (p = {worst_p:.3g}, needs < {threshold:.3g})."
        )
    return comparison
