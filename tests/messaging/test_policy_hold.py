"""Dispatch holds for quiet hours, local-time schedules and frequency caps (fixed clocks)."""

from datetime import UTC, date, datetime, time, timedelta

import pytest

from campaigns.fanout import fanout_all
from consent.models import MessageType
from messaging.dispatch import Dispatcher
from messaging.holds import policy_hold
from messaging.models import OutboundMessage
from messaging.providers import locmem
from tests.factories import create_campaign, create_contact, create_program, opt_in

pytestmark = pytest.mark.django_db

# 2026-03-10 is a Tuesday; 01:30 UTC is 21:30 in New York (EDT) and 18:30 in Los Angeles.
EVENING = datetime(2026, 3, 10, 1, 30, tzinfo=UTC)


def one_message(program, **contact_fields):
    campaign = create_campaign(program, status="sending", **contact_fields.pop("campaign", {}))
    contact = create_contact(**contact_fields)
    opt_in(contact, program)
    fanout_all(campaign)
    return OutboundMessage.objects.select_related("contact", "program", "campaign").get(
        contact=contact
    )


def test_a_florida_recipient_in_the_evening_is_held_until_8am_in_both_florida_zones():
    # Florida spans Eastern and Central: with only the state known, 08:00 Central counts.
    message = one_message(create_program("offers"), phone="+13055550123", state="FL")
    reason, until = policy_hold(message, EVENING)
    assert reason == "quiet_hours"
    assert until == datetime(2026, 3, 10, 13, 0, tzinfo=UTC)  # 08:00 CDT


def test_a_california_recipient_is_not_held_at_the_same_moment():
    message = one_message(create_program("offers"), phone="+14155550123", state="CA")
    assert policy_hold(message, EVENING) is None


def test_customer_care_replies_are_not_held():
    message = one_message(create_program("offers"), phone="+13055550123", state="FL")
    message.message_type = MessageType.CUSTOMER_CARE
    assert policy_hold(message, EVENING) is None


def test_an_exempt_transactional_program_is_not_held():
    program = create_program("reminders", message_type="transactional", quiet_hours_exempt=True)
    message = one_message(program, phone="+13055550123", state="FL")
    assert policy_hold(message, EVENING) is None


def test_a_local_time_campaign_waits_for_10am_in_the_recipients_zone():
    program = create_program("offers")
    campaign = {
        "schedule": "local",
        "local_send_date": date(2026, 3, 10),
        "local_send_time": time(10, 0),
    }
    message = one_message(program, phone="+14155550123", state="CA", campaign=campaign)
    reason, until = policy_hold(message, EVENING)
    assert reason == "local_time"
    assert until == datetime(2026, 3, 10, 17, 0, tzinfo=UTC)  # 10:00 PDT


def test_the_fourth_florida_marketing_message_in_24_hours_is_held():
    program = create_program("offers")
    message = one_message(program, phone="+13055550123", state="FL")
    noon = datetime(2026, 3, 10, 16, 0, tzinfo=UTC)  # 12:00 EDT
    for hours_ago in (5, 3, 1):
        OutboundMessage.objects.create(
            contact=message.contact,
            to=message.to,
            program=program,
            message_type="marketing",
            kind="api",
            body="earlier",
            status="delivered",
            provider_sid=f"SM{hours_ago}",
            sent_at=noon - timedelta(hours=hours_ago),
        )
    reason, until = policy_hold(message, noon)
    assert reason == "frequency_cap"
    assert until == noon - timedelta(hours=5) + timedelta(hours=24)


def test_dispatch_holds_and_later_releases(no_quiet_hours):
    """End to end: with no window rules everything goes; a held row goes when its time comes."""
    program = create_program("offers")
    message = one_message(program, phone="+13055550123", state="FL")
    locmem.reset()
    held_until = datetime.now(UTC) - timedelta(seconds=1)
    OutboundMessage.objects.filter(pk=message.pk).update(
        status="held", reason="quiet_hours", next_attempt_at=held_until
    )
    Dispatcher(sleep=lambda s: None).run_batch()
    message.refresh_from_db()
    assert message.status == "sent"
    assert [m.to for m in locmem.outbox] == [message.to]
