"""Print how long the consent evidence pack of one number takes, its size and peak memory.

Needs a scratch PostgreSQL database (its consent and message tables are emptied; the name must
contain "bench")::

    createdb -h 127.0.0.1 -U postgres bench
    DATABASE_URL=postgres://postgres@127.0.0.1/bench .venv/bin/python bench/bench_evidence_pack.py

One number with BENCH_PACK_MESSAGES messages (default 10,000; each with three events and a
delivery callback), 200 inbound replies, a consent history of opt-ins and opt-outs across two
programs, 50 reassigned-number checks, and an approved registration of the sender (each
message names the snapshot in force when it was sent). The pack is written to a temporary file
three times (median printed) and verified once. Goal: 10,000 messages in 5 s or less, memory
flat (the RSS peak barely above the start: messages are read in chunks and written as they are
read).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

django.setup()

from common import CONSENT_TABLES, RssSampler, require_scratch_postgres  # noqa: E402

# The app's modules need the app registry, hence after setup().
from campaigns.evidence import evidence_pack_write, evidence_verify  # noqa: E402
from consent import services  # noqa: E402
from consent.models import Contact  # noqa: E402
from messaging.models import (  # noqa: E402
    InboundMessage,
    MessageEvent,
    OutboundMessage,
    ReassignedNumberCheck,
    StatusCallback,
)
from tests.campaigns.registration_helpers import create_registration  # noqa: E402
from tests.factories import create_program, create_sender  # noqa: E402

MESSAGES = int(os.environ.get("BENCH_PACK_MESSAGES", 10_000))
PHONE = "+14155550123"
MESSAGE_TABLES = (
    "messaging_statuscallback, messaging_messageevent, messaging_outboundmessage, "
    "messaging_inboundmessage, messaging_reassignednumbercheck, campaigns_evidencepack, "
    "campaigns_registrationsnapshot, campaigns_registrationevent, campaigns_registration, "
    "campaigns_brand, messaging_sender, auth_user"
)


def build() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {CONSENT_TABLES}, {MESSAGE_TABLES} RESTART IDENTITY CASCADE")
    offers, alerts = create_program("offers"), create_program("alerts")
    sender = create_sender(offers, kind="10dlc")
    registration = create_registration(offers, [sender])  # in force for every message below
    registration.snapshots.update(decided_at=timezone.now() - timedelta(days=400))
    contact = Contact.objects.create(phone=PHONE, first_name="Bench")
    start = timezone.now() - timedelta(days=300)
    for n in range(20):  # a long history: in, out, in again ...
        at = start + timedelta(days=n * 10)
        program = offers if n % 2 else alerts
        if n % 4 == 3:
            services.consent_revoke(
                contact=contact, programs=[program], method="keyword", source="STOP", occurred_at=at
            )
        else:
            services.consent_opt_in(
                contact=contact, program=program, method="web_form", source="form", occurred_at=at
            )
    body = "Acme Offers: 20% off everything this weekend at acme.example/deals Reply STOP to end"
    messages = OutboundMessage.objects.bulk_create(
        (
            OutboundMessage(
                contact=contact,
                to=PHONE,
                sender=sender,
                program=offers,
                message_type="marketing",
                kind="campaign",
                body=body,
                status="delivered",
                provider_sid=f"SM{n:032d}",
                created_at=start + timedelta(minutes=n),
                sent_at=start + timedelta(minutes=n, seconds=1),
            )
            for n in range(MESSAGES)
        ),
        batch_size=2000,
    )
    MessageEvent.objects.bulk_create(
        (
            MessageEvent(message=m, kind=kind, at=m.created_at, reason=reason)
            for m in messages
            for kind, reason in (("held", "quiet_hours"), ("released", ""), ("sent", ""))
        ),
        batch_size=5000,
    )
    StatusCallback.objects.bulk_create(
        (
            StatusCallback(
                provider_sid=m.provider_sid,
                status="delivered",
                message=m,
                raw={"MessageStatus": "delivered", "MessageSid": m.provider_sid},
            )
            for m in messages
        ),
        batch_size=5000,
    )
    InboundMessage.objects.bulk_create(
        InboundMessage(
            provider_sid=f"SMin{n:030d}",
            from_number=PHONE,
            to_number="+18005550100",
            body="thanks!",
            raw={"Body": "thanks!"},
            contact=contact,
        )
        for n in range(200)
    )
    ReassignedNumberCheck.objects.bulk_create(
        ReassignedNumberCheck(
            phone=PHONE, contact=contact, date_asked=start.date(), answer="no", source="bench"
        )
        for _ in range(50)
    )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


def main() -> None:
    require_scratch_postgres("its consent and message tables are emptied")
    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    build()
    print(f"{MESSAGES:,} messages for {PHONE} built in {time.perf_counter() - started:.1f} s")
    timings, peaks = [], []
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "pack.zip"
        for _ in range(3):
            with path.open("wb") as out, RssSampler() as memory:
                began = time.perf_counter()
                result = evidence_pack_write(phone=PHONE, out=out, made_by_label="bench")
                timings.append(time.perf_counter() - began)
            peaks.append((memory.start, memory.peak))
        size = path.stat().st_size
        began = time.perf_counter()
        problems = evidence_verify(path)
        verified = time.perf_counter() - began
    print(
        f"evidence pack: median {statistics.median(timings):.2f} s "
        f"(runs {', '.join(f'{t:.2f}' for t in timings)}), {size / 1e6:.1f} MB zip, "
        f"{len(result.files) + 1} files; "
        f"{result.counts['messages']:,} messages, {result.counts['ledger events']} ledger events"
    )
    for n, (start, peak) in enumerate(peaks, 1):
        print(f"  run {n}: RSS {start / 2**20:,.0f} -> peak {peak / 2**20:,.0f} MiB")
    print(f"evidence_verify: {verified:.2f} s, {problems or 'intact'}")


if __name__ == "__main__":
    main()
