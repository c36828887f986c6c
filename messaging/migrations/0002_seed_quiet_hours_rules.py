"""Quiet-hours and frequency rules (docs/rules.md#quiet-hours-and-frequency-caps). Compliance edits them in the admin.

Unconfirmed rules (single-source values, [U]) are seeded with confirmed=False, active all the same:
when in doubt, the stricter window protects the recipient.
"""

from datetime import date, time

from django.db import migrations

RULES = [
    # jurisdiction, start, end, extra, effective_from, confirmed, source
    ("US", time(8), time(21), {}, date(1992, 12, 20), True, "TCPA / FTC TSR 310.4(c)"),
    ("FL", time(8), time(20), {"frequency_cap_24h": 3}, date(2021, 7, 1), True, "FTSA 501.616"),
    (
        "OK",
        time(8),
        time(20),
        {"frequency_cap_24h": 3},
        date(2022, 11, 1),
        True,
        "Oklahoma Telephone Solicitation Act",
    ),
    (
        "MD",
        time(8),
        time(20),
        {"frequency_cap_24h": 3},
        date(2024, 1, 1),
        True,
        "Maryland Stop the Spam Calls Act",
    ),
    ("CT", time(9), time(20), {}, date(2023, 10, 1), True, "Connecticut PA 23-98"),
    ("TX", time(9), time(21), {"sunday_start": time(12)}, date(2025, 9, 1), True, "Texas SB 140"),
    ("WA", time(8), time(20), {}, date(2005, 1, 1), True, "RCW 19.158"),
    ("VA", time(8), time(21), {}, date(2026, 1, 1), True, "Virginia VTPPA"),
    (
        "AL",
        time(8),
        time(20),
        {"no_sundays": True, "no_holidays": True},
        date(2020, 1, 1),
        False,
        "",
    ),
    (
        "LA",
        time(8),
        time(20),
        {"no_sundays": True, "no_holidays": True},
        date(2020, 1, 1),
        False,
        "",
    ),
    ("KY", time(10), time(21), {}, date(2020, 1, 1), False, ""),
    ("MA", time(8), time(20), {}, date(2020, 1, 1), False, ""),
    ("MI", time(9), time(21), {}, date(2020, 1, 1), False, ""),
    ("MN", time(9), time(21), {}, date(2020, 1, 1), False, ""),
    ("NM", time(9), time(21), {}, date(2020, 1, 1), False, ""),
    ("MS", time(8), time(20), {"no_sundays": True}, date(2020, 1, 1), False, ""),
    ("NV", time(9), time(20), {}, date(2020, 1, 1), False, ""),
]


def seed(apps, schema_editor):
    QuietHoursRule = apps.get_model("messaging", "QuietHoursRule")
    for jurisdiction, start, end, extra, since, confirmed, source in RULES:
        QuietHoursRule.objects.get_or_create(
            jurisdiction=jurisdiction,
            effective_from=since,
            defaults={
                "start": start,
                "end": end,
                "confirmed": confirmed,
                "source": source or "docs/rules.md, quiet hours [U]",
                **extra,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("messaging", "0001_senders_messages_inbound")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
