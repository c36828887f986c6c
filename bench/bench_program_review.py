"""Print how long the program review takes over 1M sent messages, and its peak memory.

    createdb -h 127.0.0.1 -U postgres bench_t14_registrations
    DATABASE_URL=postgres://postgres@127.0.0.1/bench_t14_registrations \\
        .venv/bin/python bench/bench_program_review.py

Data: 3 programs, each with one 10DLC sender, 20 approved template versions and an approved
registration; BENCH_MESSAGES (default 1,000,000) handed-off messages spread over the last 30
days across the three senders, 2% of them sent without a template (8 distinct bodies), 1%
filtered by carriers (30007). Then every registration is reviewed, and the sweep of senders no
registration covers runs. Goal: <= 60 s for all of it and <= 300 MB peak RSS.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from common import CONSENT_TABLES, CONTACTS_SQL, RssSampler, require_scratch_postgres  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from campaigns.registrations.review import program_review_run  # noqa: E402
from messaging.models import OutboundMessage  # noqa: E402
from tests.campaigns.registration_helpers import create_registration  # noqa: E402
from tests.factories import (  # noqa: E402
    create_approved_version,
    create_program,
    create_sender,
    create_template,
)

MESSAGES = int(os.environ.get("BENCH_MESSAGES", 1_000_000))
CONTACTS = 20_000
TEMPLATES = 20

MESSAGES_SQL = """
    INSERT INTO messaging_outboundmessage (contact_id, "to", sender_id, program_id,
        message_type, kind, template_version_id, body, encoding, segments, status, reason,
        provider_sid, error_code, error_message, attempts, next_attempt_at, created_at, sent_at,
        price_unit)
    SELECT c.id, c.phone, s.sender_id, s.program_id, 'marketing',
        CASE WHEN g %% 50 = 0 THEN 'api' ELSE 'campaign' END,
        CASE WHEN g %% 50 = 0 THEN NULL ELSE v.id END,
        CASE WHEN g %% 50 = 0 THEN 'Acme: your order ' || (g %% 8) || ' is ready. STOP to end'
             ELSE v.body END,
        'GSM-7', 1, CASE WHEN g %% 100 = 7 THEN 'failed' ELSE 'delivered' END, '',
        'SM' || md5(g::text), CASE WHEN g %% 100 = 7 THEN 30007 END, '', 1,
        now(), now() - (g %% 2592000) * interval '1 second',
        now() - (g %% 2592000) * interval '1 second', ''
    FROM generate_series(1, %(n)s) g
    JOIN consent_contact c ON c.id = %(first_contact)s + g %% %(contacts)s
    JOIN bench_slots s ON s.slot = g %% 3
    JOIN bench_versions v ON v.slot = g %% 3 AND v.n = (g / 3) %% %(templates)s
"""


def prepare() -> list:
    with connection.cursor() as cursor:
        cursor.execute(
            f"TRUNCATE {CONSENT_TABLES}, messaging_outboundmessage, messaging_messageevent, "
            "messaging_sender, templates_messagetemplate, campaigns_brand, auth_user CASCADE"
        )
        cursor.execute("CREATE EXTENSION IF NOT EXISTS pgcrypto")
        cursor.execute(CONTACTS_SQL, {"n": CONTACTS, "key": settings.PHONE_HASH_KEY})
        cursor.execute("SELECT min(id) FROM consent_contact")
        first_contact = cursor.fetchone()[0]
    registrations, slots, versions = [], [], []
    for slot in range(3):
        program = create_program(f"bench-{slot}")
        sender = create_sender(program, kind="10dlc", name=f"Bench line {slot}")
        for n in range(TEMPLATES):
            version = create_approved_version(
                create_template(program, name=f"T{slot}-{n}"),
                body=f"Acme: {{first_name|Hi}}, offer {n} of {slot}: {n * 5}% off this week "
                f"at https://acme.example/o{n} Reply STOP to opt out",
            )
            versions.append((slot, n, version.pk, version.body))
        slots.append((slot, sender.pk, program.pk))
        registrations.append(create_registration(program, [sender], name=f"Bench {slot}"))
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_slots, bench_versions")
        cursor.execute("CREATE TEMP TABLE bench_slots (slot int, sender_id int, program_id int)")
        cursor.executemany("INSERT INTO bench_slots VALUES (%s, %s, %s)", slots)
        cursor.execute("CREATE TEMP TABLE bench_versions (slot int, n int, id int, body text)")
        cursor.executemany("INSERT INTO bench_versions VALUES (%s, %s, %s, %s)", versions)
        start = time.perf_counter()
        cursor.execute(
            MESSAGES_SQL,
            {
                "n": MESSAGES,
                "first_contact": first_contact,
                "contacts": CONTACTS,
                "templates": TEMPLATES,
            },
        )
        print(f"  {cursor.rowcount:,} messages written in {time.perf_counter() - start:.1f} s")
        cursor.execute("VACUUM ANALYZE messaging_outboundmessage")
    return registrations


def main() -> None:
    require_scratch_postgres("its consent, messaging and registration tables are emptied")
    # The set-up makes ~130 staff users; the default password hash would take minutes.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    call_command("migrate", verbosity=0)
    print(f"Generating {MESSAGES:,} messages over 30 days on 3 registrations ...")
    registrations = prepare()
    assert OutboundMessage.objects.filter(template_version__isnull=True).exists()
    with RssSampler() as memory:
        start = time.perf_counter()
        timings = []
        for registration in registrations:
            began = time.perf_counter()
            review = program_review_run(registration=registration, trigger="command")
            codes = sorted(set(review.findings.values_list("code", flat=True)))
            timings.append(time.perf_counter() - began)
            print(
                f"  {registration.name}: {review.messages_seen:,} messages, "
                f"{timings[-1]:.1f} s, findings {codes}"
            )
        began = time.perf_counter()
        sweep = program_review_run(registration=None, trigger="command")
        print(f"  sweep: {sweep.messages_seen:,} messages, {time.perf_counter() - began:.1f} s")
        total = time.perf_counter() - start
    print(
        f"Program review, {MESSAGES:,} messages / 3 registrations + sweep: {total:.1f} s "
        f"(goal <= 60 s), peak RSS {memory.peak / 2**20:.0f} MB "
        f"(+{(memory.peak - memory.start) / 2**20:.0f} MB during the review; goal <= 300 MB)"
    )


if __name__ == "__main__":
    main()
