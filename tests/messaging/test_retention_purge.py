"""Records retention: old message bodies and raw payloads are purged (their hash kept); the
consent ledger, confirmations, states and suppressions are left exactly as they were."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.utils import timezone
from django_q.models import Schedule

from consent import services
from consent.models import ConsentConfirmation, ConsentEvent, ConsentState, Suppression
from messaging.models import InboundMessage, OutboundMessage, StatusCallback
from messaging.retention import retention_purge
from messaging.tasks import purge_expired_records
from tests.factories import create_contact, create_program, opt_in

pytestmark = pytest.mark.django_db

NOW = timezone.now()
OLD = NOW - timedelta(days=401)
RECENT = NOW - timedelta(days=399)


def outbound(contact, program, body: str, status: str, created_at, **fields) -> OutboundMessage:
    return OutboundMessage.objects.create(
        contact=contact,
        to=contact.phone,
        program=program,
        message_type=program.message_type,
        kind="campaign",
        body=body,
        status=status,
        created_at=created_at,
        **fields,
    )


def raw_rows(model) -> list[tuple]:
    """Every column of every row, as the database returns it."""
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT * FROM "{model._meta.db_table}" ORDER BY 1')
        return cursor.fetchall()


@pytest.fixture
def records():
    program = create_program("offers")
    contact = create_contact("+14155550170")
    event = opt_in(contact, program, at=OLD - timedelta(days=30))
    ConsentConfirmation.objects.create(event=event, message_ref="SMold", sent_at=OLD)
    stop = services.consent_revoke(
        contact=contact,
        programs=[program],
        method="keyword",
        source="STOP to +18005550100",
        occurred_at=OLD,
        evidence={"text": "STOP please", "raw": {"Body": "STOP please"}},
    )[0].event
    ConsentConfirmation.objects.create(event=stop, message_ref="SMstopconf", sent_at=OLD)
    services.suppression_add(
        phone=contact.phone, reason="complaint", evidence={"raw": {"Body": "stop it"}}
    )
    return {
        "old_sent": outbound(contact, program, "Old deal", "delivered", OLD, provider_sid="SM1"),
        "old_blocked": outbound(contact, program, "Old blocked", "blocked", OLD, reason="x"),
        "old_queued": outbound(contact, program, "Still waiting", "queued", OLD),
        "recent": outbound(contact, program, "Recent", "delivered", RECENT, provider_sid="SM2"),
        "old_in": InboundMessage.objects.create(
            provider_sid="SMin1",
            from_number=contact.phone,
            to_number="+18005550100",
            body="STOP please",
            raw={"Body": "STOP please", "From": contact.phone},
            received_at=OLD,
        ),
        "recent_in": InboundMessage.objects.create(
            provider_sid="SMin2",
            from_number=contact.phone,
            to_number="+18005550100",
            body="hi",
            raw={"Body": "hi"},
            received_at=RECENT,
        ),
        "old_callback": StatusCallback.objects.create(
            provider_sid="SM1",
            status="delivered",
            raw={"MessageStatus": "delivered"},
            received_at=OLD,
        ),
    }


def test_it_purges_old_bodies_and_payloads_keeping_each_bodys_sha256(records):
    report = retention_purge()

    assert (report.outbound_bodies, report.inbound_bodies) == (2, 1)
    assert (report.inbound_payloads, report.callback_payloads) == (1, 1)
    sent = OutboundMessage.objects.get(pk=records["old_sent"].pk)
    assert sent.body == "" and sent.body_purged_at is not None
    assert sent.body_sha256 == hashlib.sha256(b"Old deal").hexdigest()
    inbound = InboundMessage.objects.get(pk=records["old_in"].pk)
    assert inbound.body == "" and inbound.raw == {} and inbound.raw_purged_at
    assert inbound.body_sha256 == hashlib.sha256(b"STOP please").hexdigest()
    assert StatusCallback.objects.get(pk=records["old_callback"].pk).raw == {}


def test_it_keeps_recent_records_and_messages_that_may_still_be_sent(records):
    retention_purge()

    assert OutboundMessage.objects.get(pk=records["recent"].pk).body == "Recent"
    assert OutboundMessage.objects.get(pk=records["old_queued"].pk).body == "Still waiting"
    recent_in = InboundMessage.objects.get(pk=records["recent_in"].pk)
    assert (recent_in.body, recent_in.raw) == ("hi", {"Body": "hi"})


def test_it_leaves_every_ledger_confirmation_state_and_suppression_row_as_it_was(records):
    tables = [ConsentEvent, ConsentConfirmation, ConsentState, Suppression]
    before = {model: raw_rows(model) for model in tables}
    assert all(before.values())

    with override_settings(RETENTION_MESSAGE_BODY_DAYS=0, RETENTION_WEBHOOK_PAYLOAD_DAYS=0):
        report = retention_purge(now=NOW + timedelta(days=1))

    assert report.outbound_bodies == 3  # everything that can no longer be sent, even recent
    assert {model: raw_rows(model) for model in tables} == before


def test_it_works_in_batches_and_a_second_run_finds_nothing(records):
    report = retention_purge(batch=1)
    assert report.outbound_bodies == 2 and not report.more
    again = retention_purge()
    assert (again.outbound_bodies, again.inbound_bodies, again.callback_payloads) == (0, 0, 0)


def test_a_run_out_of_time_says_there_is_more(records):
    assert retention_purge(batch=1, budget_seconds=-1).more is True


@override_settings(RETENTION_MESSAGE_BODY_DAYS=1000)
def test_the_retention_periods_are_settings(records):
    report = purge_expired_records()
    assert report["outbound_bodies"] == 0 and report["callback_payloads"] == 1


def test_setup_schedules_runs_the_purge_daily():
    call_command("setup_schedules", stdout=None)
    schedule = Schedule.objects.get(func="messaging.tasks.purge_expired_records")
    assert schedule.minutes == 24 * 60


def test_the_evidence_pack_proves_a_purged_body_by_its_hash(records, tmp_path):
    import io
    import json
    import zipfile

    retention_purge()
    out = tmp_path / "pack.zip"
    call_command("evidence_pack", "+14155550170", "-o", str(out), stdout=io.StringIO())

    with zipfile.ZipFile(out) as z:
        messages = [json.loads(line) for line in z.read("messages.jsonl").splitlines()]
    old = next(m for m in messages if m["id"] == records["old_sent"].pk)
    assert old["body"] is None and old["body_purged_at"]
    assert old["body_sha256"] == hashlib.sha256(b"Old deal").hexdigest()
