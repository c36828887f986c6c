"""A flow names its success (an event such as appointment.confirmed, or replies such as C / YES)
and reports the share of its sends that were followed by it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import Sum
from django.utils import timezone

from campaigns.models import FlowRun
from campaigns.selectors import flow_success
from messaging import counters
from messaging.models import DailyCount, InboundMessage

from .flow_helpers import fire, make_flow, program_with_sender, subscriber

pytestmark = pytest.mark.django_db


@pytest.fixture
def service():
    return program_with_sender()


def booked(contact):
    in_three_days = (timezone.now() + timedelta(days=3)).isoformat()
    _, runs = fire(contact, data={"appointment_at": in_three_days})
    return runs


def test_the_success_event_marks_the_persons_run(service):
    flow = make_flow(service, success_event="appointment.confirmed")
    confirmed, silent = subscriber(service), subscriber(service)
    booked(confirmed)
    booked(silent)

    fire(confirmed, type="appointment.confirmed")

    assert FlowRun.objects.get(contact=confirmed).succeeded_at is not None
    assert FlowRun.objects.get(contact=silent).succeeded_at is None
    result = flow_success(flow)
    assert (result.sent, result.succeeded, result.rate) == (2, 1, 0.5)


def test_an_event_after_the_success_window_does_not_count(service):
    flow = make_flow(service, success_event="appointment.confirmed")
    person = subscriber(service)
    booked(person)
    fire(person, type="appointment.confirmed", occurred_at=timezone.now() + timedelta(days=8))
    assert flow_success(flow).succeeded == 0


def test_a_success_reply_counts_in_any_case(service):
    flow = make_flow(service, success_replies=["C", "YES"])
    replied, other, late = subscriber(service), subscriber(service), subscriber(service)
    for person in (replied, other, late):
        booked(person)
    sender = service.senders.get()
    replies = [(replied, " yes ", 1), (other, "maybe", 1), (late, "C", 24 * 8)]
    for n, (person, text, hours) in enumerate(replies):
        InboundMessage.objects.create(
            provider_sid=f"SMreply{n}", from_number=person.phone, to_number=sender.phone_number,
            body=text, contact=person, sender=sender,
            received_at=timezone.now() + timedelta(hours=hours),
        )  # fmt: skip
    result = flow_success(flow)
    assert (result.sent, result.succeeded) == (3, 1)


def test_a_flow_without_a_success_names_no_rate(service):
    flow = make_flow(service)
    booked(subscriber(service))
    assert flow_success(flow) is None


def test_a_success_event_is_counted_for_the_flow_report_and_rebuilt_alike(service):
    flow = make_flow(service, success_event="appointment.confirmed")
    confirmed, silent = subscriber(service), subscriber(service)
    booked(confirmed)
    booked(silent)

    fire(confirmed, type="appointment.confirmed")

    def successes() -> int:
        rows = DailyCount.objects.filter(scope="flow", key=flow.pk, metric="flow_success")
        return rows.aggregate(n=Sum("count"))["n"] or 0

    assert successes() == 1
    counters.rebuild()
    assert successes() == 1
