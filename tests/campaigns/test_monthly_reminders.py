"""The monthly "you are still subscribed, reply STOP to cancel" reminder: once a month each."""

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns import tasks
from campaigns.flow_rules import MONTHLY_REMINDER_EVENT
from campaigns.models import FlowRun
from consent import services
from messaging.models import OutboundMessage
from tests.factories import create_contact, opt_in

from .flow_helpers import make_flow, program_with_sender

pytestmark = pytest.mark.django_db

REMINDER = (
    "Acme: you're still subscribed to Acme Offers. Msg&data rates may apply. Reply STOP to cancel."
)


@pytest.fixture
def offers():
    return program_with_sender("offers", message_type="marketing")


def reminder_flow(program, **fields):
    return make_flow(
        program,
        name=f"Monthly reminder {program.slug}",
        trigger=MONTHLY_REMINDER_EVENT,
        body=REMINDER,
        **fields,
    )


def member(program, *, days: int, **fields):
    contact = create_contact(**fields)
    opt_in(contact, program, at=timezone.now() - timedelta(days=days))
    return contact


def reminded() -> list[int]:
    return sorted(FlowRun.objects.values_list("contact_id", flat=True))


def test_it_reminds_each_subscriber_of_a_month_or_more_once(offers):
    flow = reminder_flow(offers)
    old = member(offers, days=45)
    member(offers, days=10)  # joined recently: the opt-in confirmation said how to stop

    counts = tasks.send_monthly_reminders()

    assert counts == {
        "flows": 1, "queued": 1, "blocked": 0, "skipped": 0, "no_approved_version": 0
    }  # fmt: skip
    run = FlowRun.objects.get()
    assert (run.flow, run.contact, run.event, run.outcome) == (flow, old, None, "queued")
    assert (run.message.body, run.message.kind, run.message.status) == (REMINDER, "flow", "queued")


def test_running_every_hour_sends_each_person_one_a_month(offers):
    reminder_flow(offers)
    first = member(offers, days=45)
    tasks.send_monthly_reminders()
    assert tasks.send_monthly_reminders()["queued"] == 0
    assert tasks.send_monthly_reminders()["queued"] == 0
    assert reminded() == [first.pk]

    # A month on, the person is due again.
    FlowRun.objects.update(created_at=timezone.now() - timedelta(days=30, minutes=1))
    assert tasks.send_monthly_reminders()["queued"] == 1
    assert reminded() == [first.pk, first.pk]
    assert OutboundMessage.objects.count() == 2


def test_only_people_who_may_be_messaged_are_reminded(offers):
    reminder_flow(offers)
    kept = member(offers, days=60)
    left = member(offers, days=60)
    services.consent_revoke(contact=left, programs=[offers], method="keyword", source="STOP")
    suppressed = member(offers, days=60)
    services.suppression_add(phone=suppressed.phone, reason="complaint")
    other = program_with_sender("alerts")
    member(other, days=60)  # another program's subscriber

    tasks.send_monthly_reminders()

    assert reminded() == [kept.pk]


def test_it_works_through_large_programs_in_chunks(offers, monkeypatch):
    monkeypatch.setattr(tasks, "REMINDER_CHUNK", 2)
    reminder_flow(offers)
    members = [member(offers, days=40) for _ in range(5)]
    assert tasks.send_monthly_reminders()["queued"] == 5
    assert reminded() == sorted(m.pk for m in members)


def test_a_flow_without_an_approved_version_or_inactive_sends_nothing(offers):
    reminder_flow(offers, approved=False)
    reminder_flow(program_with_sender("news", message_type="marketing"), active=False)
    member(offers, days=40)
    counts = tasks.send_monthly_reminders()
    assert (counts["flows"], counts["no_approved_version"], counts["queued"]) == (1, 1, 0)
    assert not FlowRun.objects.exists()
