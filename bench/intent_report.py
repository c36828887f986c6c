"""Print how `messaging.keywords` does on the labelled corpus of inbound replies.

Run from the repository root: ``.venv/bin/python bench/intent_report.py [--errors] [--corpus PATH]``
(``--corpus tests/messaging/data/intent_blind_batch.csv`` scores the blind batch written before the
rules were last widened; its figures are kept apart from the main corpus).
Prints the confusion matrix (rows: the corpus label, columns: the prediction), precision and recall
per label, the same figures for the exact-keyword rows and for the rows written after the rules
(first scored blind, kept to watch for overfitting), and the time per reply.
A prediction's label is its intent, or "review" when ``assess`` flags it for a human.
"""

from __future__ import annotations

import csv
import sys
import time
from collections import Counter
from pathlib import Path

# Runnable as a plain script: the project is not installed into the virtualenv.
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from messaging.keywords import Assessment, assess  # noqa: E402

CORPUS = ROOT / "tests" / "messaging" / "data" / "intent_corpus.csv"
LABELS = ("opt_out", "review", "help", "opt_in", "other")


def predicted_label(assessment: Assessment) -> str:
    """The corpus label an assessment corresponds to."""
    return "review" if assessment.needs_review else assessment.intent.value


def load_corpus(path: Path = CORPUS) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def precision_recall(pairs: list[tuple[str, str]], label: str) -> tuple[float, float, int]:
    """Precision and recall of one label over (expected, predicted) pairs, and its support."""
    tp = sum(1 for e, p in pairs if e == label and p == label)
    predicted = sum(1 for _, p in pairs if p == label)
    support = sum(1 for e, _ in pairs if e == label)
    precision = tp / predicted if predicted else 1.0
    recall = tp / support if support else 1.0
    return precision, recall, support


def print_report(title: str, pairs: list[tuple[str, str]]) -> None:
    print(f"\n== {title}: {len(pairs)} replies ==")
    confusion = Counter(pairs)
    width = max(len(label) for label in LABELS) + 2
    print("expected \\ predicted".ljust(22) + "".join(label.rjust(width) for label in LABELS))
    for expected in LABELS:
        cells = "".join(str(confusion[(expected, p)]).rjust(width) for p in LABELS)
        print(expected.ljust(22) + cells)
    print()
    for label in LABELS:
        precision, recall, support = precision_recall(pairs, label)
        if support or any(p == label for _, p in pairs):
            print(f"{label:>8}: precision {precision:.3f}  recall {recall:.3f}  (n={support})")


def corpus_path(argv: list[str]) -> Path:
    """The corpus named by ``--corpus PATH``, else the main labelled corpus."""
    if "--corpus" in argv:
        return Path(argv[argv.index("--corpus") + 1])
    return CORPUS


def main() -> None:
    path = corpus_path(sys.argv)
    print(f"corpus: {path}")
    rows = load_corpus(path)
    started = time.perf_counter()
    assessments = [assess(row["text"]) for row in rows]
    elapsed = time.perf_counter() - started

    pairs = [(row["label"], predicted_label(a)) for row, a in zip(rows, assessments, strict=True)]
    print_report("whole corpus", pairs)
    exact = [pair for pair, row in zip(pairs, rows, strict=True) if row["note"] == "exact"]
    print_report("exact keywords", exact)
    later = [p for p, row in zip(pairs, rows, strict=True) if row["note"].startswith("holdout")]
    print_report("replies written after the rules (notes 'holdout 1', 'holdout 2')", later)
    # An opt-out the classifier neither honours nor flags is the costly miss.
    opt_outs = [p for e, p in pairs if e == "opt_out"]
    caught = sum(1 for p in opt_outs if p in ("opt_out", "review"))
    print(f"\nopt_out replies honoured or flagged for review: {caught}/{len(opt_outs)}")
    print(f"{elapsed / len(rows) * 1e6:.1f} µs per reply")

    if "--errors" in sys.argv:
        print("\nmisclassified:")
        for row, a, (expected, got) in zip(rows, assessments, pairs, strict=True):
            if expected != got:
                print(f"  {expected:>7} -> {got:<7} {row['text']!r}  [{a.matched}]")


if __name__ == "__main__":
    main()
