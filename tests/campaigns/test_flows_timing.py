"""When a flow's message is due: at once, after a delay, relative to a time in the event, or not
at all because that time passed too long ago."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from campaigns.flows import flow_event_record
from campaigns.models import FlowRun
from messaging.models import OutboundMessage

from .flow_helpers import fire, make_flow, program_with_sender, subscriber

pytestmark = pytest.mark.django_db


@pytest.fixture
def service():
    return program_with_sender()


def iso(moment: datetime) -> str:
    return moment.isoformat()


def test_an_immediate_flow_is_due_when_the_event_occurred(service):
    flow = make_flow(service, body="Acme Service: booked, {first_name}. Reply STOP to opt out")
    contact = subscriber(service, first_name="Ana")
    occurred = timezone.now() - timedelta(minutes=5)

    event, [run] = fire(contact, occurred_at=occurred, data={"appointment_at": iso(occurred)})

    assert (run.flow, run.event, run.outcome, run.fire_at) == (flow, event, "queued", occurred)
    message = run.message
    assert (message.status, message.kind, message.next_attempt_at) == ("queued", "flow", occurred)
    assert message.body == "Acme Service: booked, Ana. Reply STOP to opt out"
    assert message.template_version == run.template_version == flow.template.approved_version


def test_a_delayed_flow_is_due_its_offset_after_the_event(service):
    make_flow(service, trigger="order.delivered", offset=timedelta(days=3))
    occurred = timezone.now()
    _, [run] = fire(
        subscriber(service),
        type="order.delivered",
        occurred_at=occurred,
        data={"appointment_at": iso(occurred)},
    )
    assert run.fire_at == occurred + timedelta(days=3)
    assert run.message.next_attempt_at == occurred + timedelta(days=3)


def test_an_anchored_flow_is_due_relative_to_the_time_in_the_event(service):
    make_flow(service, anchor="appointment_at", offset=timedelta(hours=-24))
    appointment = (timezone.now() + timedelta(days=3)).replace(microsecond=0)
    local = appointment.astimezone(timezone.get_fixed_timezone(-300))  # the shop's -05:00

    _, [run] = fire(subscriber(service), data={"appointment_at": local.isoformat()})

    assert run.fire_at == appointment - timedelta(hours=24)
    assert run.message.next_attempt_at == run.fire_at
    # Shown as the partner sent it: the shop's local time.
    hour = local.hour % 12 or 12
    assert f"{hour}:{local.minute:02d} {'AM' if local.hour < 12 else 'PM'}" in run.message.body


def test_event_times_show_in_the_contacts_own_time_zone_when_known(service):
    make_flow(service, body="Acme Service: see you at {event.appointment_at:time}. STOP to end")
    contact = subscriber(service, time_zone="America/Los_Angeles")
    _, [run] = fire(contact, data={"appointment_at": "2030-05-01T15:30:00-04:00"})
    assert run.message.body == "Acme Service: see you at 12:30 PM. STOP to end"


def test_it_skips_a_send_whose_time_passed_longer_ago_than_max_lateness(service):
    make_flow(service, anchor="appointment_at", offset=timedelta(hours=-24))
    soon = timezone.now() + timedelta(hours=2)  # booked too late for a day-before reminder

    _, [run] = fire(subscriber(service), data={"appointment_at": iso(soon)})

    assert (run.outcome, run.reason, run.message) == ("skipped", "too_late", None)
    assert run.fire_at == soon - timedelta(hours=24)
    assert not OutboundMessage.objects.exists()


def test_a_late_event_within_max_lateness_still_sends_at_once(service):
    make_flow(service, max_lateness=timedelta(hours=6))
    occurred = timezone.now() - timedelta(hours=3)
    _, [run] = fire(subscriber(service), occurred_at=occurred, data={"appointment_at": "x"})
    assert (run.outcome, run.fire_at) == ("queued", occurred)
    assert run.message.next_attempt_at <= timezone.now()  # due: dispatch takes it now

    _, [late] = fire(
        subscriber(service),
        occurred_at=timezone.now() - timedelta(hours=7),
        data={"appointment_at": "x"},
    )
    assert (late.outcome, late.reason) == ("skipped", "too_late")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({}, "anchor_missing"),
        ({"appointment_at": ""}, "anchor_missing"),
        ({"appointment_at": "next Tuesday"}, "anchor_invalid"),
        ({"appointment_at": "2030-05-01T15:30:00"}, "anchor_invalid"),  # no offset: whose 3:30?
        ({"appointment_at": 1893456000}, "anchor_invalid"),
    ],
)
def test_it_skips_an_anchored_flow_without_a_usable_time(service, data, reason):
    make_flow(service, anchor="appointment_at", offset=timedelta(hours=-24))
    _, [run] = fire(subscriber(service), data=data)
    assert (run.outcome, run.reason, run.message) == ("skipped", reason, None)


def test_it_skips_a_flow_whose_template_has_no_approved_version(service):
    make_flow(service, approved=False)
    _, [run] = fire(subscriber(service), data={"appointment_at": iso(timezone.now())})
    assert (run.outcome, run.reason) == ("skipped", "no_approved_version")


def test_it_skips_rather_than_send_a_message_with_a_hole_in_it(service):
    make_flow(service, body="Acme Service: hi {first_name}, see you soon. Reply STOP to opt out")
    _, [run] = fire(subscriber(service, first_name=""), data={})
    assert (run.outcome, run.reason, run.message) == ("skipped", "missing_token", None)


def test_only_flows_whose_conditions_hold_get_a_run(service):
    website = make_flow(
        service,
        trigger="lead.created",
        conditions=[{"field": "data.source", "op": "eq", "value": "website"}],
        body="Acme Service: thanks for your interest! Reply STOP to opt out",
    )
    make_flow(
        service,
        trigger="lead.created",
        conditions=[{"field": "data.source", "op": "eq", "value": "store"}],
        body="Acme Service: thanks for visiting! Reply STOP to opt out",
    )
    make_flow(service, trigger="lead.created", active=False)
    make_flow(service, trigger="order.delivered")

    _, runs = fire(subscriber(service), type="lead.created", data={"source": "website"})

    assert [run.flow for run in runs] == [website]
    assert FlowRun.objects.count() == 1


def test_a_program_scoped_event_fires_only_that_programs_flows(service):
    other = program_with_sender("alerts")
    ours = make_flow(service, trigger="lead.created")
    make_flow(other, trigger="lead.created")
    contact = subscriber(service)
    _, runs = flow_event_record(
        type="lead.created",
        contact=contact,
        occurred_at=datetime.now(UTC),
        data={"appointment_at": iso(timezone.now())},
        program=service,
    )
    assert [run.flow for run in runs] == [ours]
