"""Operator alerts: one row per (kind, subject), counted while it recurs, acknowledged in the
admin (support persona and superuser), reopened when it happens again."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from messaging.alerts import alert_raise
from messaging.models import OperatorAlert
from tests.factories import create_user, marketer, support_agent

pytestmark = pytest.mark.django_db

KIND = OperatorAlert.Kind.UNCONFIGURED_NUMBER
CHANGELIST = reverse("admin:messaging_operatoralert_changelist")


@pytest.fixture(params=["superuser", "support"])
def staff(request, client):
    user = create_user("root", superuser=True) if request.param == "superuser" else support_agent()
    client.force_login(user)
    return user


def test_it_records_an_alert_once_and_counts_it(caplog):
    first = alert_raise(kind=KIND, subject="+18335550199", detail="one")
    again = alert_raise(kind=KIND, subject="+18335550199", detail="two")
    other = alert_raise(kind=KIND, subject="+18335550198", detail="x")

    assert first.pk == again.pk != other.pk
    assert (again.count, again.detail, again.first_seen) == (2, "two", first.first_seen)
    assert again.last_seen >= first.last_seen
    assert [r.levelname for r in caplog.records] == ["WARNING"] * 3


def test_it_refuses_an_unknown_kind():
    with pytest.raises(ValueError, match="not an operator alert kind"):
        alert_raise(kind="made_up", subject="x")


def test_it_reopens_an_acknowledged_alert_that_happens_again():
    alert = alert_raise(kind=KIND, subject="+18335550199")
    assert alert.acknowledge(by=None)
    assert not alert.acknowledge(by=None)  # already acknowledged

    alert = alert_raise(kind=KIND, subject="+18335550199")

    assert (alert.status, alert.acknowledged_at, alert.count) == ("open", None, 2)


def test_it_lists_finds_and_shows_alerts_in_the_admin(client, staff):
    alert = alert_raise(kind=KIND, subject="+18335550199", detail="A message reached it.")

    listing = client.get(CHANGELIST)
    assert listing.status_code == 200
    assert "+18335550199" in listing.content.decode()
    assert "Traffic to a number with no sender" in listing.content.decode()
    assert "+18335550199" in client.get(CHANGELIST, {"q": "+18335550199"}).content.decode()
    assert "+18335550199" not in client.get(CHANGELIST, {"q": "+1999"}).content.decode()
    assert client.get(CHANGELIST, {"status__exact": "open"}).status_code == 200
    change = client.get(reverse("admin:messaging_operatoralert_change", args=[alert.pk]))
    assert change.status_code == 200 and "A message reached it." in change.content.decode()
    assert client.get(reverse("admin:messaging_operatoralert_add")).status_code == 403


def test_it_acknowledges_alerts_and_reports_done_and_skipped(client, staff):
    fresh = alert_raise(kind=KIND, subject="+18335550199")
    seen = alert_raise(kind=KIND, subject="+18335550198")
    seen.acknowledge(by=None)

    response = client.post(
        CHANGELIST,
        {"action": "acknowledge", ACTION_CHECKBOX_NAME: [fresh.pk, seen.pk]},
        follow=True,
    )

    assert "Acknowledged 1, skipped 1" in response.content.decode()
    fresh.refresh_from_db()
    assert (fresh.status, fresh.acknowledged_by) == ("acknowledged", staff)


def test_it_hides_alerts_from_marketing(client):
    client.force_login(marketer())

    assert client.get(CHANGELIST).status_code == 403
