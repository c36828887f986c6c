"""The demo campaign, launched as a newcomer launches it after `make run`, finishes: every
message is sent, blocked, or held with a time at which dispatch will look at it again."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db.models import Count
from django.utils import timezone

from campaigns.models import Campaign
from campaigns.services import campaign_launch
from messaging.models import MessageStatus, OutboundMessage, Sender
from messaging.tasks import dispatch

pytestmark = pytest.mark.django_db


@pytest.fixture
def us_afternoon(monkeypatch):
    """The clock pinned to the last 18:00 UTC (13:00 in New York, 10:00 in Los Angeles), so
    the demo's contacts are out of their quiet hours whenever the suite runs."""
    real = timezone.now()
    pinned = real.replace(hour=18, minute=0, second=0, microsecond=0)
    if pinned > real:
        pinned -= timedelta(days=1)
    monkeypatch.setattr(timezone, "now", lambda: pinned)


def test_it_runs_the_demo_campaign_to_sent_blocked_or_held_until_a_known_time(
    settings, django_capture_on_commit_callbacks, us_afternoon
):
    settings.SMS_BACKEND = "console"  # as `make run`, with no Lookup credentials
    call_command("seed_demo", contacts=120, seed=42)
    Sender.objects.update(mps=10_000)  # the demo's 3 a second, without the wait
    campaign = Campaign.objects.get(name="Weekend tent sale")

    with django_capture_on_commit_callbacks(execute=True):
        campaign_launch(campaign=campaign, by=User.objects.get(username="marketing"))
    for _ in range(20):  # what the cluster's schedule does, a batch at a time
        with django_capture_on_commit_callbacks(execute=True):
            report = dispatch()
        if not report["claimed"]:
            break

    messages = OutboundMessage.objects.filter(campaign=campaign)
    statuses = dict(messages.values_list("status").annotate(n=Count("pk")).order_by())
    assert statuses.get(MessageStatus.SENT, 0) > 0, statuses
    assert set(statuses) <= {MessageStatus.SENT, MessageStatus.BLOCKED, MessageStatus.HELD}, (
        statuses
    )
    now = timezone.now()
    for held in messages.filter(status=MessageStatus.HELD):
        assert held.reason != "reassigned_check", "a look-up nobody can make holds it forever"
        assert held.next_attempt_at is not None, held.reason
        assert now < held.next_attempt_at <= now + timedelta(days=2), (held.reason, held.pk)
