"""Throughput of `templates.encoding.analyze` on one core, for typical bodies.

Run from the project root: `.venv/bin/python bench/bench_encoding.py`. No Django needed.
"""

import os
import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from templates.encoding import analyze

SHORT_GSM = "Hi Ana, your appointment is tomorrow at 3:30 PM. Reply STOP to opt out."
TWO_SEGMENT_GSM = (
    "Hi Ana, this is Riverside Dental. Your cleaning with Dr. Patel is booked for Tuesday, "
    "Nov 24 at 3:30 PM at 120 Main Street, 2nd floor. Please arrive 10 minutes early and bring "
    "your insurance card. To reschedule call 555-0100. Reply STOP to opt out."
)
TWO_SEGMENT_GSM_EXTENSION = TWO_SEGMENT_GSM.replace("Dr. Patel", "Dr. Patel [room 4] {EUR 20 €}")
UCS2_EMOJI = "Hola María 😜 tu cita es mañana a las 15:30 🎉 STOP para salir."
UCS2_CLUSTERS = "Great job 👍🏽 team! 👨\u200d👩\u200d👧\u200d👦 night 🇺🇸, café au lait"
SMART = "“Big news” \u2013 it\u2019s our sale… • 20% off today. Reply STOP to opt out."

CASES: list[tuple[str, str, bool]] = [
    ("short GSM-7 (1 segment)", SHORT_GSM, False),
    ("GSM-7, 2 segments", TWO_SEGMENT_GSM, False),
    ("GSM-7 with extension characters, 2 segments", TWO_SEGMENT_GSM_EXTENSION, False),
    ("UCS-2 with emoji", UCS2_EMOJI, False),
    ("UCS-2 with skin tone, ZWJ family, flag", UCS2_CLUSTERS, False),
    ("smart encoding -> GSM-7", SMART, True),
    ("short GSM-7, smart encoding on", SHORT_GSM, True),
]


def calls_per_second(text: str, smart: bool, repeats: int = 7) -> float:
    """Best of `repeats` runs of about 0.2 s each."""
    timer = timeit.Timer(lambda: analyze(text, smart))
    number, _ = timer.autorange()
    return number / min(timer.repeat(repeat=repeats, number=number))


def main() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    print(f"analyze() throughput, Python {sys.version.split()[0]}, one core")
    for label, text, smart in CASES:
        result = analyze(text, smart)
        shape = f"{result.encoding}, {result.segments} seg, {len(text)} chars"
        print(f"{label:<46} {shape:<26} {calls_per_second(text, smart):>12,.0f} calls/s")


if __name__ == "__main__":
    main()
