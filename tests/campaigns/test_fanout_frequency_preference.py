"""Fan-out honours the frequency a person chose: weekly or monthly marketing at most."""

import itertools
from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.fanout import fanout_all
from consent import services
from consent.models import MessageType
from messaging.models import OutboundMessage
from tests.factories import create_campaign, create_contact, create_program, opt_in

pytestmark = pytest.mark.django_db

_sids = itertools.count(1)


@pytest.fixture
def offers():
    return create_program("offers")


@pytest.fixture
def news():
    return create_program("news")


def subscriber(program, frequency: str):
    contact = create_contact(frequency_preference=frequency)
    opt_in(contact, program)
    return contact


def earlier(contact, program, *, days_ago: float | None, status: str = "sent", message_type=None):
    """A message of `program` the contact was sent `days_ago` days ago (or one still waiting)."""
    sent = status in ("sent", "delivered")
    return OutboundMessage.objects.create(
        contact=contact,
        to=contact.phone,
        program=program,
        message_type=message_type or program.message_type,
        kind="campaign",
        body="Earlier offer. Reply STOP to opt out",
        status=status,
        reason={"held": "quiet_hours", "cancelled": "cancelled_by_opt_out"}.get(status, ""),
        provider_sid=f"SM{next(_sids):032d}" if sent else None,
        sent_at=timezone.now() - timedelta(days=days_ago) if sent else None,
        lease_expires_at=timezone.now() + timedelta(minutes=1) if status == "sending" else None,
    )


def outcome(campaign) -> dict[int, tuple[str, str]]:
    rows = OutboundMessage.objects.filter(campaign=campaign)
    return {m.contact_id: (m.status, m.reason) for m in rows}


def test_it_blocks_a_weekly_reader_sent_marketing_in_the_last_seven_days(offers, news):
    campaign = create_campaign(offers)
    recent = subscriber(offers, "weekly")
    earlier(recent, news, days_ago=3)  # another program's marketing counts too
    older = subscriber(offers, "weekly")
    earlier(older, offers, days_ago=8)
    fresh = subscriber(offers, "weekly")
    fanout_all(campaign)
    assert outcome(campaign) == {
        recent.pk: ("blocked", "frequency_preference"),
        older.pk: ("queued", ""),
        fresh.pk: ("queued", ""),
    }
    campaign.refresh_from_db()
    assert campaign.excluded == {"frequency_preference": 1}


def test_it_blocks_a_monthly_reader_sent_marketing_in_the_last_thirty_days(offers):
    campaign = create_campaign(offers)
    recent = subscriber(offers, "monthly")
    earlier(recent, offers, days_ago=20)
    older = subscriber(offers, "monthly")
    earlier(older, offers, days_ago=31)
    fanout_all(campaign)
    assert outcome(campaign) == {
        recent.pk: ("blocked", "frequency_preference"),
        older.pk: ("queued", ""),
    }


@pytest.mark.parametrize("status", ["queued", "held", "sending"])
def test_a_marketing_message_on_its_way_counts_as_sent(offers, news, status):
    campaign = create_campaign(offers)
    waiting = subscriber(offers, "weekly")
    earlier(waiting, news, days_ago=None, status=status)
    fanout_all(campaign)
    assert outcome(campaign) == {waiting.pk: ("blocked", "frequency_preference")}


def test_only_marketing_counts_and_only_for_those_who_chose_a_limit(offers):
    campaign = create_campaign(offers)
    reminded = subscriber(offers, "weekly")
    reminders = create_program("reminders", message_type=MessageType.TRANSACTIONAL)
    earlier(reminded, reminders, days_ago=1)
    cancelled = subscriber(offers, "weekly")
    earlier(cancelled, offers, days_ago=None, status="cancelled")
    everything = subscriber(offers, "any")
    earlier(everything, offers, days_ago=1)
    fanout_all(campaign)
    assert outcome(campaign) == {
        reminded.pk: ("queued", ""),
        cancelled.pk: ("queued", ""),
        everything.pk: ("queued", ""),
    }


def test_an_informational_campaign_ignores_the_marketing_limit(offers):
    reminders = create_program("reminders", message_type=MessageType.TRANSACTIONAL)
    campaign = create_campaign(reminders)
    contact = subscriber(reminders, "weekly")
    earlier(contact, offers, days_ago=1)
    fanout_all(campaign)
    assert outcome(campaign) == {contact.pk: ("queued", "")}


def test_the_consent_gate_reason_comes_first(offers):
    campaign = create_campaign(offers)
    contact = subscriber(offers, "weekly")
    earlier(contact, offers, days_ago=1)
    services.consent_revoke(contact=contact, programs=[offers], method="keyword", source="STOP")
    fanout_all(campaign)
    assert outcome(campaign) == {contact.pk: ("blocked", "opted_out")}


def test_the_window_is_counted_back_from_a_scheduled_start(offers):
    campaign = create_campaign(offers, schedule="at", send_at=timezone.now() + timedelta(days=5))
    contact = subscriber(offers, "weekly")
    earlier(contact, offers, days_ago=3)  # 8 days before the campaign goes
    fanout_all(campaign)
    assert outcome(campaign) == {contact.pk: ("queued", "")}
