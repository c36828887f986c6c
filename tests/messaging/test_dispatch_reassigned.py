"""Before marketing to an old consent, dispatch asks whether the number was reassigned."""

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.fanout import fanout_all
from consent.models import ConsentState, Suppression
from messaging.dispatch import Dispatcher
from messaging.models import OutboundMessage, ReassignedNumberCheck
from messaging.providers import locmem
from tests.factories import create_campaign, create_contact, create_program, opt_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def lookup(twilio_standin, settings, no_quiet_hours):
    for name, value in twilio_standin.django_settings().items():
        setattr(settings, name, value)
    settings.REASSIGNED_CHECK_AFTER_DAYS = 90
    locmem.reset()
    return twilio_standin


def queued_to(program, *, consented_days_ago: int):
    campaign = create_campaign(program, status="sending")
    contact = create_contact()
    opt_in(contact, program, at=timezone.now() - timedelta(days=consented_days_ago))
    fanout_all(campaign)
    return OutboundMessage.objects.get(contact=contact)


def run():
    Dispatcher(sleep=lambda s: None).run_batch()


def test_a_reassigned_number_is_blocked_suppressed_and_its_consent_revoked(lookup):
    program = create_program("offers")
    message = queued_to(program, consented_days_ago=400)
    lookup.set_reassigned(message.to, "yes")
    run()
    message.refresh_from_db()
    assert (message.status, message.reason) == ("blocked", "reassigned")
    check = ReassignedNumberCheck.objects.get(phone=message.to)
    assert check.answer == "yes" and check.source == "twilio_lookup"
    assert check.date_asked == (timezone.now() - timedelta(days=400)).date()
    assert Suppression.objects.filter(phone=message.to, reason="reassigned").exists()
    assert ConsentState.objects.get(contact=message.contact).status == "opted_out"
    assert locmem.outbox == []


def test_a_number_not_reassigned_is_sent_and_the_answer_kept(lookup):
    program = create_program("offers")
    message = queued_to(program, consented_days_ago=400)
    lookup.set_reassigned(message.to, "no")
    run()
    message.refresh_from_db()
    assert message.status == "sent"
    assert ReassignedNumberCheck.objects.get(phone=message.to).answer == "no"


def test_a_recent_consent_needs_no_check(lookup):
    message = queued_to(create_program("offers"), consented_days_ago=10)
    run()
    message.refresh_from_db()
    assert message.status == "sent"
    assert not ReassignedNumberCheck.objects.exists()
    assert lookup.lookups == []


def test_no_data_holds_when_the_policy_says_so(lookup, settings):
    settings.REASSIGNED_NO_DATA_POLICY = "hold"
    message = queued_to(create_program("offers"), consented_days_ago=400)
    lookup.set_reassigned(message.to, "no_data_available")
    run()
    message.refresh_from_db()
    assert (message.status, message.reason) == ("held", "reassigned_check")


def test_a_lookup_outage_holds_the_message_for_a_retry(lookup):
    message = queued_to(create_program("offers"), consented_days_ago=400)
    lookup.down("refused", seconds=60)
    run()
    message.refresh_from_db()
    assert (message.status, message.reason) == ("held", "reassigned_check")
    assert not ReassignedNumberCheck.objects.exists()
