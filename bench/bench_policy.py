"""Throughput of `messaging.sending_rules.next_allowed_at` with a warm `RuleBook`, one core, no DB.

Run from the project root: `.venv/bin/python bench/bench_policy.py`. The rulebook holds the rules
seeded by migration 0002 (docs/rules.md), built from the migration's own list, so no
database is needed. Recipients are unsaved contacts, one per NANP area code phonenumbers knows
(some with an address state, some with their own time zone), messaged by a marketing program at
four moments (evening, night, Sunday morning, midday); the caches are warmed first, as they are
after the first messages of a dispatch batch.
"""

import importlib
import itertools
import os
import sys
import timeit
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

# The app's modules need the app registry, hence after setup().
from consent.models import Contact, MessageType, Program  # noqa: E402
from messaging.sending_rules import (  # noqa: E402
    Rule,
    RuleBook,
    next_allowed_at,
    next_allowed_at_for,
    recipient_jurisdictions,
    recipient_time_zones,
)
from messaging.timezones import STATE_ZONES, area_code  # noqa: E402

SEED = importlib.import_module("messaging.migrations.0002_seed_quiet_hours_rules")
MOMENTS = [
    datetime(2026, 3, 11, 1, 30, tzinfo=UTC),  # 21:30 Eastern: most of the country is held
    datetime(2026, 3, 11, 9, 0, tzinfo=UTC),  # night everywhere
    datetime(2026, 3, 15, 15, 0, tzinfo=UTC),  # Sunday 10:00 Central
    datetime(2026, 3, 11, 18, 0, tzinfo=UTC),  # midday: allowed nearly everywhere
]


def seeded_rulebook() -> RuleBook:
    return RuleBook(
        Rule(jurisdiction, start, end, effective_from=since, **extra)
        for jurisdiction, start, end, extra, since, _confirmed, _source in SEED.RULES
    )


def recipients() -> list[Contact]:
    states = sorted(STATE_ZONES)
    contacts = []
    for n, npa in enumerate(npa for npa in map(str, range(200, 1000)) if area_code(npa)):
        contact = Contact(phone=f"+1{npa}5550123")
        if n % 3 == 1:
            contact.state = states[n % len(states)]
        elif n % 3 == 2:
            contact.time_zone = "America/Chicago"
        contacts.append(contact)
    return contacts


def calls_per_second(call, repeats: int = 7) -> float:
    """Best of `repeats` runs of about 0.2 s each."""
    timer = timeit.Timer(call)
    number, _ = timer.autorange()
    return number / min(timer.repeat(repeat=repeats, number=number))


def main() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    rulebook = seeded_rulebook()
    program = Program(slug="deals", message_type=MessageType.MARKETING)
    contacts = recipients()
    values = [(recipient_time_zones(c), recipient_jurisdictions(c)) for c in contacts]
    cases = list(itertools.product(contacts, MOMENTS))
    value_cases = list(itertools.product(values, MOMENTS))
    for contact, now in cases:  # warm the caches
        next_allowed_at(contact, program, now, rulebook)

    def contact_batch() -> None:
        for contact, now in cases:
            next_allowed_at(contact, program, now, rulebook)

    def value_batch() -> None:
        for (zones, jurisdictions), now in value_cases:
            next_allowed_at_for(zones, jurisdictions, "marketing", False, now, rulebook)

    print(f"next_allowed_at, warm RuleBook, Python {sys.version.split()[0]}, one core")
    print(f"{len(contacts)} recipients x {len(MOMENTS)} moments = {len(cases)} calls a batch")
    contact_rate = calls_per_second(contact_batch) * len(cases)
    value_rate = calls_per_second(value_batch) * len(value_cases)
    print(f"{'next_allowed_at(contact, ...)':<46} {contact_rate:>12,.0f} calls/s")
    print(f"{'next_allowed_at_for(zones, jurisdictions, ...)':<46} {value_rate:>12,.0f} calls/s")


if __name__ == "__main__":
    main()
