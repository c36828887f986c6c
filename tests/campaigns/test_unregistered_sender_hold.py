"""Dispatch holds a 10DLC sender's message when no approved registration covers its traffic."""

from __future__ import annotations

import pytest

from campaigns.fanout import fanout_all
from messaging.dispatch import Dispatcher
from messaging.models import OutboundMessage
from messaging.providers import locmem
from tests.campaigns.registration_helpers import create_registration
from tests.factories import create_campaign, create_contact, create_program, opt_in

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def hold_policy(settings, no_quiet_hours):
    settings.SMS_UNREGISTERED_SENDER = "hold"
    locmem.reset()


def one_queued(program, *, kind: str = "10dlc") -> OutboundMessage:
    campaign = create_campaign(program, status="sending")
    campaign.senders.update(kind=kind)
    opt_in(create_contact(), program)
    fanout_all(campaign)
    return OutboundMessage.objects.select_related("sender").get(campaign=campaign)


def dispatch() -> None:
    Dispatcher(sleep=lambda s: None).run_batch()


def test_it_holds_a_10dlc_message_no_registration_covers():
    message = one_queued(create_program("offers"))
    dispatch()
    message.refresh_from_db()
    assert (message.status, message.reason) == ("held", "unregistered_sender")
    assert locmem.outbox == []


def test_it_sends_when_an_approved_registration_covers_the_program_and_type():
    program = create_program("offers")
    message = one_queued(program)
    create_registration(program, [message.sender])
    dispatch()
    message.refresh_from_db()
    assert message.status == "sent"


def test_a_registration_for_another_message_type_does_not_cover_it():
    program = create_program("offers")
    message = one_queued(program)
    create_registration(
        program, [message.sender], use_case="ACCOUNT_NOTIFICATION", privacy_policy_url=""
    )
    dispatch()
    message.refresh_from_db()
    assert message.reason == "unregistered_sender"


def test_a_submitted_but_unapproved_registration_does_not_cover_it():
    program = create_program("offers")
    message = one_queued(program)
    create_registration(program, [message.sender], approved=False)
    dispatch()
    message.refresh_from_db()
    assert message.reason == "unregistered_sender"


def test_short_codes_are_not_held():
    message = one_queued(create_program("offers"), kind="short_code")
    dispatch()
    message.refresh_from_db()
    assert message.status == "sent"


def test_the_warn_setting_sends_and_logs(settings, caplog):
    settings.SMS_UNREGISTERED_SENDER = "warn"
    message = one_queued(create_program("offers"))
    dispatch()
    message.refresh_from_db()
    assert message.status == "sent"
    assert "no approved registration" in caplog.text
