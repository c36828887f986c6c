"""Flow messages pass the same consent gate as everything else, and an event fires a flow once."""

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.flows import flow_event_fire
from campaigns.models import FlowRun
from consent import services
from messaging.models import OutboundMessage
from tests.factories import create_contact, opt_in

from .flow_helpers import fire, make_flow, program_with_sender, subscriber

pytestmark = pytest.mark.django_db

LATER = {"appointment_at": (timezone.now() + timedelta(days=5)).isoformat()}


@pytest.fixture
def service():
    return program_with_sender()


def test_a_person_without_consent_gets_a_blocked_run_and_no_message_to_send(service):
    make_flow(service)
    _, [run] = fire(create_contact(), data=LATER)
    assert (run.outcome, run.reason) == ("blocked", "no_consent")
    assert (run.message.status, run.message.reason) == ("blocked", "no_consent")
    assert not OutboundMessage.objects.filter(status="queued").exists()


def test_an_opted_out_person_never_gets_a_flow_message(service):
    make_flow(service)
    contact = subscriber(service)
    services.consent_revoke(contact=contact, programs=[service], method="keyword", source="STOP")
    _, [run] = fire(contact, data=LATER)
    assert (run.outcome, run.reason) == ("blocked", "opted_out")


def test_an_opt_out_cancels_a_flow_message_still_waiting_for_its_time(service):
    make_flow(service, offset=timedelta(days=2))
    contact = subscriber(service)
    _, [run] = fire(contact, data=LATER)
    assert run.message.status == "queued"

    services.consent_revoke(contact=contact, programs=[service], method="keyword", source="STOP")

    run.message.refresh_from_db()
    assert (run.message.status, run.message.reason) == ("cancelled", "cancelled_by_opt_out")


def test_a_pending_double_opt_in_is_blocked_until_confirmed():
    offers = program_with_sender("offers", message_type="marketing", double_opt_in=True)
    make_flow(offers)
    contact = create_contact()
    opt_in(contact, offers, confirmed=False)
    _, [run] = fire(contact, data=LATER)
    assert (run.outcome, run.reason) == ("blocked", "pending_confirmation")


def test_firing_an_event_again_does_not_run_its_flows_again(service):
    first = make_flow(service)
    second = make_flow(service, offset=timedelta(hours=1))
    event, runs = fire(subscriber(service), data=LATER)
    assert [r.flow for r in runs] == [first, second]

    again = flow_event_fire(event=event)

    assert [r.pk for r in again] == [r.pk for r in runs]
    assert FlowRun.objects.count() == 2
    assert OutboundMessage.objects.count() == 2
