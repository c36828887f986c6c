"""Dispatch under fire: opt-outs racing two worker processes, a worker killed mid-batch, and a
provider answering 429, 500 and timeouts for a while. Nothing goes out after its opt-out, nothing
twice, nothing is lost.

The scenario tests run real worker processes (`multiprocessing`, spawn context: each imports
this module, sets Django up, points at the test database named by the parent and loops
`Dispatcher().run_batch()`) against the Twilio stand-in through the real `twilio` client, so
they need PostgreSQL. The full-size versions are `bench/reliability_dispatch.py`.

Two smaller tests pin the bugs those scenarios found: a send whose outcome is unknown (a timeout,
a 5xx) is looked up before it is sent again, and a hand-off never starts once its lease is
running out.
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import random
import signal
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import django
from django.apps import apps

if not apps.ready:  # a spawned worker process imports this module before Django is set up
    django.setup()

import pytest
from django.db import connection, connections
from django.db.models import Count
from django.utils import timezone

from campaigns.fanout import fanout_all
from consent.models import ConsentEvent, ConsentState, Contact, Program
from consent.phones import phone_hash
from consent.services import consent_revoke
from messaging.dispatch import Dispatcher, claim_due
from messaging.models import MessageEvent, OutboundMessage, SenderThrottle
from messaging.providers import SendResult
from messaging.reconcile import reconcile_expired_leases
from tests.factories import (
    create_campaign,
    create_contact,
    create_program,
    next_phone,
    opt_in,
)

#: Statuses a message may still leave.
OPEN = ("queued", "held", "sending")

# --- the worker processes -------------------------------------------------------------------


def _worker(
    database: str,
    overrides: dict[str, Any],
    signals: tuple[Any, Any, Any],
    gate_log: str | None,
    reconcile_every: float | None,
) -> None:
    """One dispatch worker process: say it is ready, run batches from `go` until `stop`.

    `gate_log`: write {contact_id: wall-clock time its last gate check started} there on exit.
    `reconcile_every`: also settle expired leases that often (the minute schedule, sped up).
    """
    from django.conf import settings

    from messaging import dispatch

    for name, value in overrides.items():
        setattr(settings, name, value)
    connections["default"].settings_dict["NAME"] = database  # the parent's test database
    gate_started: dict[int, float] = {}
    real_gate = dispatch.gate

    def timed_gate(**kwargs: Any) -> Any:
        gate_started[kwargs["contact_id"]] = time.time()
        return real_gate(**kwargs)

    dispatch.gate = timed_gate
    dispatcher = dispatch.Dispatcher()
    connection.ensure_connection()
    ready, go, stop = signals
    ready.put(os.getpid())
    go.wait()
    next_reconcile = time.monotonic()
    try:
        while not stop.is_set():
            if reconcile_every is not None and time.monotonic() >= next_reconcile:
                reconcile_expired_leases()
                next_reconcile = time.monotonic() + reconcile_every
            if not dispatcher.run_batch().claimed:
                time.sleep(0.02)
    finally:
        if gate_log:
            Path(gate_log).write_text(json.dumps(gate_started))
        connections.close_all()


class Workers:
    """Dispatch worker processes sharing a start and a stop signal."""

    def __init__(self, overrides: dict[str, Any], *, logs: Path | None = None, **options: Any):
        self.context = multiprocessing.get_context("spawn")
        self.signals = (self.context.Queue(), self.context.Event(), self.context.Event())
        self.overrides = overrides
        self.logs = logs
        self.reconcile_every = options.get("reconcile_every")
        self.processes: list[Any] = []

    def add(self) -> Any:
        log = str(self.logs / f"gate{len(self.processes)}.json") if self.logs else None
        process = self.context.Process(
            target=_worker,
            args=(
                connection.settings_dict["NAME"],
                self.overrides,
                self.signals,
                log,
                self.reconcile_every,
            ),
        )
        process.start()
        self.processes.append(process)
        return process

    def ready(self) -> None:
        """Wait until every worker started so far has set Django up and connected."""
        for _ in self.processes:
            self.signals[0].get(timeout=30)

    def go(self) -> None:
        self.signals[1].set()

    def stop(self) -> None:
        self.signals[2].set()
        for process in self.processes:
            process.join(20)
            if process.is_alive():
                process.kill()

    def gate_started(self) -> dict[int, float]:
        """Contact id -> when its last gate check started, over every worker that exited."""
        started: dict[int, float] = {}
        for path in sorted(self.logs.glob("gate*.json")) if self.logs else []:
            started |= {int(k): v for k, v in json.loads(path.read_text()).items()}
        return started

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def worker_settings(standin, **extra: Any) -> dict[str, Any]:
    """Settings for worker processes: the real Twilio backend pointed at the stand-in.

    Spawned workers do not see the suite's fixtures, so the test sender's missing 10DLC
    registration is made a warning here as it is for the rest of the suite."""
    return {
        "SMS_BACKEND": "twilio",
        "SMS_UNREGISTERED_SENDER": "warn",
        **standin.django_settings(),
        **extra,
    }


# --- data -----------------------------------------------------------------------------------


def opted_in_contacts(program: Program, n: int) -> list[Contact]:
    """`n` contacts opted in to `program` a day ago, written set-based (the ledger and state)."""
    now = timezone.now() - timedelta(days=1)
    disclosure = program.disclosures.get()
    contacts = Contact.objects.bulk_create(
        Contact(phone=phone, phone_hash=phone_hash(phone), first_name=f"P{i}")
        for i, phone in enumerate(next_phone() for _ in range(n))
    )
    events = ConsentEvent.objects.bulk_create(
        ConsentEvent(
            contact=contact,
            phone=contact.phone,
            program=program,
            kind="opt_in",
            resulting_status="opted_in",
            method="web_form",
            source="https://acme.example/join",
            disclosure=disclosure,
            disclosure_hash=disclosure.text_hash,
            occurred_at=now,
            evidence={"ip": "203.0.113.7"},
        )
        for contact in contacts
    )
    ConsentState.objects.bulk_create(
        ConsentState(
            contact=event.contact,
            program=program,
            status="opted_in",
            last_event=event,
            since=now,
            opted_in_at=now,
        )
        for event in events
    )
    return contacts


def queued_campaign(recipients: int):
    """A sending campaign fanned out to `recipients` opted-in contacts; (campaign, program)."""
    program = create_program("offers")
    campaign = create_campaign(program, status="sending")
    opted_in_contacts(program, recipients)
    fanout_all(campaign)
    assert OutboundMessage.objects.filter(campaign=campaign, status="queued").count() == recipients
    return campaign, program


def wait_until_done(campaign, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while OutboundMessage.objects.filter(campaign=campaign, status__in=OPEN).exists():
        assert time.monotonic() < deadline, f"not done in {timeout} s: {statuses(campaign)}"
        time.sleep(0.1)


def statuses(campaign) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    for status, reason in OutboundMessage.objects.filter(campaign=campaign).values_list(
        "status", "reason"
    ):
        counts[(status, reason)] = counts.get((status, reason), 0) + 1
    return counts


def assert_sent_exactly_once(campaign, standin) -> set[int]:
    """Every message the stand-in accepted is `sent` here with its SID, and only once."""
    received = standin.received
    assert standin.duplicates() == {}
    by_id = {item.message_id: item.sid for item in received}
    assert len(by_id) == len(received)
    sent = dict(
        OutboundMessage.objects.filter(campaign=campaign, status="sent").values_list(
            "pk", "provider_sid"
        )
    )
    assert sent == by_id
    return set(sent)


# --- 1. opt-outs committed while two workers dispatch ---------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_it_sends_nothing_after_an_opt_out_commits_while_two_workers_dispatch(
    twilio_standin, no_quiet_hours, tmp_path
):
    """50 opt-outs at random moments (half of them to messages claimed right then).

    The check is exact, not a time window: each worker records when it started the consent
    gate check of each message. A message the stand-in accepted after its opt-out committed is
    allowed only if its gate check started before that commit (it was already in flight); a
    gate check started after the commit must have blocked it.
    """
    campaign, program = queued_campaign(2_000)
    queued = set(OutboundMessage.objects.filter(campaign=campaign).values_list("pk", flat=True))
    contacts = list(OutboundMessage.objects.filter(campaign=campaign).values_list("contact_id"))
    rng = random.Random(2_000)
    revoked: dict[int, float] = {}  # contact id -> when its opt-out had committed
    with Workers(worker_settings(twilio_standin), logs=tmp_path) as workers:
        workers.add()
        workers.add()
        workers.ready()
        workers.go()
        while len(revoked) < 50:
            time.sleep(rng.uniform(0.0, 0.06))
            in_flight = list(
                OutboundMessage.objects.filter(campaign=campaign, status="sending")
                .exclude(contact_id__in=revoked)
                .values_list("contact_id", flat=True)[:50]
            )
            if in_flight and len(revoked) % 2 == 0:
                contact_id = rng.choice(in_flight)
            else:
                contact_id = rng.choice(contacts)[0]
                if contact_id in revoked:
                    continue
            consent_revoke(
                contact=Contact.objects.get(pk=contact_id),
                programs=[program],
                method="keyword",
                source="STOP",
            )
            revoked[contact_id] = time.time()  # consent_revoke's transaction has ended
        wait_until_done(campaign, timeout=40)
    gate_started = workers.gate_started()

    sent = assert_sent_exactly_once(campaign, twilio_standin)
    contact_of = dict(
        OutboundMessage.objects.filter(campaign=campaign).values_list("pk", "contact_id")
    )
    in_flight, after_commit = [], []
    for item in twilio_standin.received:
        contact_id = contact_of[item.message_id]
        assert gate_started[contact_id] < item.received_at  # the log is sound
        if contact_id not in revoked or item.received_at <= revoked[contact_id]:
            continue
        if gate_started[contact_id] <= revoked[contact_id]:
            in_flight.append(item.received_at - revoked[contact_id])
        else:
            after_commit.append(item.message_id)
    assert after_commit == []
    # Nothing lost: each message ended sent, blocked at hand-off, or cancelled by the opt-out.
    outcomes = statuses(campaign)
    assert set(outcomes) <= {
        ("sent", ""),
        ("blocked", "opted_out"),
        ("cancelled", "cancelled_by_opt_out"),
    }
    assert sum(outcomes.values()) == len(queued)
    revoked_messages = set(
        OutboundMessage.objects.filter(campaign=campaign, contact_id__in=revoked).values_list(
            "pk", flat=True
        )
    )
    assert queued - revoked_messages <= sent  # everyone who did not opt out got theirs
    # The race was really run: opt-outs met messages in flight and messages still waiting.
    assert outcomes.get(("blocked", "opted_out"), 0) >= 1
    assert outcomes.get(("cancelled", "cancelled_by_opt_out"), 0) >= 1
    print(
        f"\n2 workers, {len(queued):,} messages, {len(revoked)} opt-outs: {outcomes}; "
        f"{len(in_flight)} accepted after their opt-out committed, all with the gate checked "
        f"before the commit (at most {max(in_flight, default=0) * 1e3:.1f} ms after it)"
    )


# --- 2. a worker killed with SIGKILL mid-batch, and restarted -------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_worker_killed_mid_batch_loses_nothing_and_sends_nothing_twice(
    twilio_standin, no_quiet_hours
):
    """SIGKILL one of two workers while it holds a claimed batch; start a replacement.

    Its `sending` rows wait for their lease (2 s here) to expire; reconciliation asks the
    stand-in (`find_sent`): those it has become `sent`, the others are queued again.
    """
    campaign, _ = queued_campaign(1_000)
    overrides = worker_settings(twilio_standin, SMS_LEASE_SECONDS=2, SMS_DISPATCH_BATCH=100)
    with Workers(overrides, reconcile_every=0.5) as workers:
        victim = workers.add()
        workers.add()
        workers.ready()
        workers.go()
        deadline = time.monotonic() + 20
        while len(twilio_standin.received) < 300:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        os.kill(victim.pid, signal.SIGKILL)
        victim.join(5)
        assert victim.exitcode == -signal.SIGKILL
        stranded = OutboundMessage.objects.filter(campaign=campaign, status="sending").count()
        workers.add()  # the restart
        wait_until_done(campaign, timeout=40)

    sent = assert_sent_exactly_once(campaign, twilio_standin)
    assert len(sent) == 1_000
    reconciled = dict(
        MessageEvent.objects.filter(message__campaign=campaign, kind="reconciled")
        .values_list("reason")
        .annotate(n=Count("id"))
        .order_by()
    )
    assert sum(reconciled.values()) >= 1  # the killed worker left leased rows behind
    assert "unknown_held" not in reconciled
    print(f"\nkilled with {stranded} rows in sending; reconciled: {reconciled}")


# --- 3. the provider answers 429, 500 and times out for a while -----------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_provider_failing_for_a_while_gets_everything_exactly_once_with_backoff(
    twilio_standin, no_quiet_hours
):
    """429 (with Retry-After), 500, 500 after accepting, then answers slower than the timeout.

    The last two leave the outcome unknown (the stand-in has the message): the retry must find
    it instead of sending it again. Backoff is short here (0.2 s doubling to 1 s) and attempts
    generous, so that every message outlives the outage.
    """
    campaign, _ = queued_campaign(600)
    overrides = worker_settings(
        twilio_standin,
        SMS_BACKOFF_BASE=0.2,
        SMS_BACKOFF_MAX=1.0,
        SMS_MAX_ATTEMPTS=30,
        TWILIO_TIMEOUT=0.3,
    )
    with Workers(overrides) as workers:
        workers.add()
        workers.add()
        workers.ready()
        twilio_standin.fail_requests(429, seconds=0.8, retry_after=0.5)
        workers.go()
        time.sleep(0.8)
        twilio_standin.fail_requests(500, seconds=0.6)
        time.sleep(0.6)
        twilio_standin.fail_requests(500, seconds=0.6, accept=True)
        time.sleep(0.6)
        twilio_standin.slow(0.6, seconds=1.2)
        wait_until_done(campaign, timeout=40)

    sent = assert_sent_exactly_once(campaign, twilio_standin)
    assert len(sent) == 600
    requests = twilio_standin.requests
    assert requests["send 429"] and requests["send 500"] and requests["list 200"]
    retried = list(
        MessageEvent.objects.filter(message__campaign=campaign, kind="retried").values_list(
            "message_id", "at", "data"
        )
    )
    by_status: dict[Any, int] = {}
    for _, _, data in retried:
        by_status[data["http_status"]] = by_status.get(data["http_status"], 0) + 1
        assert data["delay_seconds"] > 0
        if data["http_status"] == 429:
            assert data["delay_seconds"] >= 0.5  # Retry-After is honoured
    assert {429, 500, None} <= set(by_status)  # None: the timeouts
    # Backoff is real: no retried message was tried again before its delay had passed.
    events = list(
        MessageEvent.objects.filter(message__campaign=campaign)
        .order_by("message_id", "at", "id")
        .values_list("message_id", "kind", "at", "data")
    )
    for (mid, kind, at, data), (next_mid, _, next_at, _) in itertools.pairwise(events):
        if kind == "retried" and mid == next_mid:
            assert next_at >= at + timedelta(seconds=data["delay_seconds"] - 0.05)
    found = MessageEvent.objects.filter(
        message__campaign=campaign, kind="sent", data__found_by_lookup=True
    ).count()
    assert found >= 1  # accepted-but-unanswered sends were found, not sent again
    print(f"\nretries by HTTP status: {by_status}; found by lookup instead of resent: {found}")


# --- the bugs, pinned (run on any database) -------------------------------------------------


@pytest.fixture
def twilio_backend(twilio_standin, settings, no_quiet_hours):
    for name, value in worker_settings(twilio_standin, TWILIO_TIMEOUT=0.3).items():
        setattr(settings, name, value)
    return twilio_standin


def one_queued_message(program: Program | None = None) -> OutboundMessage:
    program = program or create_program("offers")
    campaign = create_campaign(program, status="sending")
    contact = create_contact()
    opt_in(contact, program)
    fanout_all(campaign)
    return OutboundMessage.objects.get(campaign=campaign, contact=contact)


def retry_now(message: OutboundMessage) -> None:
    """Skip the backoff wait."""
    OutboundMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())


@pytest.mark.django_db
@pytest.mark.parametrize("failure", ["timeout", "500 after accepting"])
def test_it_looks_up_a_send_with_an_unknown_outcome_instead_of_sending_it_again(
    twilio_backend, failure
):
    message = one_queued_message()
    if failure == "timeout":
        twilio_backend.slow(0.6, count=1)  # accepted, then answered after the client gave up
    else:
        twilio_backend.fail_requests(500, count=1, accept=True)
    assert Dispatcher().run_batch().retried == 1
    retry_now(message)
    assert Dispatcher().run_batch().sent == 1
    message.refresh_from_db()
    [received] = twilio_backend.received
    assert (message.status, message.provider_sid) == ("sent", received.sid)
    assert twilio_backend.requests["list 200"] == 1


@pytest.mark.django_db
def test_a_refused_send_is_retried_without_a_lookup(twilio_backend):
    message = one_queued_message()
    twilio_backend.fail_requests(429, count=1)
    Dispatcher().run_batch()
    retry_now(message)
    Dispatcher().run_batch()
    message.refresh_from_db()
    assert message.status == "sent" and len(twilio_backend.received) == 1
    assert twilio_backend.requests["list 200"] == 0


@pytest.mark.django_db
def test_it_never_starts_a_hand_off_once_its_lease_is_running_out(settings, no_quiet_hours):
    """A slow batch (here: a wait for the rate that oversleeps) outlives its lease;
    reconciliation finds the message unsent and queues it again, another worker sends it. The
    first worker, reaching it at last, must not send it a second time."""
    settings.SMS_LEASE_SECONDS = 1
    message = one_queued_message()
    sender = message.sender
    sender.mps = 4
    sender.save(update_fields=["mps"])
    # A quarter of a second to wait: within the batch's deadline, so it waits.
    SenderThrottle.objects.create(sender=sender, tokens=0, updated_at=timezone.now())
    handed: list[int] = []

    class Provider:
        def send(self, request):
            handed.append(request.message_id)
            return SendResult(provider_sid=f"SM{len(handed):032d}")

        def find_sent(self, request, *, since):
            return None  # nothing was sent yet: reconciliation queues it again

    def wait_for_rate(seconds: float) -> None:
        # While this worker waits, its lease runs out and the message moves on without it.
        lease = OutboundMessage.objects.get(pk=message.pk).lease_expires_at
        time.sleep(max((lease - timezone.now()).total_seconds(), 0) + 0.05)
        reconcile_expired_leases(backend=Provider())
        SenderThrottle.objects.filter(sender=sender).update(tokens=5, updated_at=timezone.now())
        other = Dispatcher(backend=Provider(), policy_hold=lambda m, now: None)
        assert other.run_batch().sent == 1

    first = Dispatcher(backend=Provider(), sleep=wait_for_rate, policy_hold=lambda m, now: None)
    first.run_batch()
    assert handed == [message.pk]
    message.refresh_from_db()
    assert message.status == "sent"


@pytest.mark.django_db
def test_claims_carry_one_lease_per_batch():
    """The batched settle relies on it: every row of a claim carries the same lease."""
    program = create_program("offers")
    for _ in range(3):
        one_queued_message(program)
    leases = {m.lease_expires_at for m in claim_due(limit=10)}
    assert len(leases) == 1
