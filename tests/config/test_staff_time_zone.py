"""Each staff member reads every time in the admin in their own zone, the zone named."""

import zoneinfo
from datetime import UTC, datetime

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from config.lib.admin_tools import admin_date
from consent.models import StaffPreference
from tests.a11y import axe_violations
from tests.conftest import admin_login
from tests.factories import create_contact, create_user, marketer, support_agent

pytestmark = pytest.mark.django_db


def _local(moment, zone: str) -> str:
    return moment.astimezone(zoneinfo.ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")


def test_it_shows_two_staff_the_same_event_each_in_their_own_zone(client, settings):
    settings.ADMIN_TIME_ZONE = "America/New_York"
    contact = create_contact()
    tokyo, paris = support_agent(), create_user("pia_support", "Support")
    StaffPreference.objects.create(user=tokyo, time_zone="Asia/Tokyo")
    StaffPreference.objects.create(user=paris, time_zone="Europe/Paris")
    url = reverse("admin:consent_contact_change", args=[contact.pk])

    client.force_login(tokyo)
    seen_in_tokyo = client.get(url).content.decode()
    client.force_login(paris)
    seen_in_paris = client.get(url).content.decode()

    assert _local(contact.created_at, "Asia/Tokyo") in seen_in_tokyo  # "... JST"
    assert _local(contact.created_at, "Europe/Paris") in seen_in_paris  # "... CET"
    assert _local(contact.created_at, "Europe/Paris") not in seen_in_tokyo
    assert _local(contact.created_at, "America/New_York") not in seen_in_paris


def test_it_falls_back_to_the_admin_zone_without_a_preference(client, settings):
    settings.ADMIN_TIME_ZONE = "America/Chicago"
    contact = create_contact()
    client.force_login(support_agent())
    html = client.get(reverse("admin:consent_contact_change", args=[contact.pk])).content.decode()
    assert _local(contact.created_at, "America/Chicago") in html
    assert "Time zone: America/Chicago" in html


def test_it_records_a_zone_from_the_form_and_refuses_an_unknown_one(client):
    user = marketer()
    client.force_login(user)
    url = reverse("admin:staff_time_zone")

    response = client.post(url, {"time_zone": "Mars/Olympus_Mons"})
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not StaffPreference.objects.filter(user=user).exists()

    response = client.post(url, {"time_zone": "Australia/Sydney"}, follow=True)
    assert StaffPreference.objects.get(user=user).time_zone == "Australia/Sydney"
    assert "Time zone: Australia/Sydney" in response.content.decode()


def test_it_keeps_public_pages_in_utc(client):
    user = marketer()
    StaffPreference.objects.create(user=user, time_zone="Asia/Tokyo")
    client.force_login(user)
    client.get("/")
    assert timezone.get_current_timezone_name() == "UTC"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_it_lets_a_staff_member_pick_their_zone_in_the_browser(browser_page, live_server):
    marketer()
    admin_login(browser_page, live_server, "mia_marketing")
    browser_page.get_by_role("link", name="Time zone: America/New_York").click()
    browser_page.get_by_label("Your time zone").select_option("Europe/Lisbon")
    browser_page.get_by_role("button", name="Save").click()
    expect(browser_page.get_by_role("link", name="Time zone: Europe/Lisbon")).to_be_visible()
    expect(browser_page.locator("#tz-now")).to_contain_text("WE")  # WET or WEST
    assert axe_violations(browser_page, include="#content-main") == []


def test_a_date_in_the_admin_is_the_staff_members_day_not_utcs():
    late_evening_in_los_angeles = datetime(2026, 1, 1, 3, 0, tzinfo=UTC)
    with timezone.override("America/Los_Angeles"):
        assert admin_date(late_evening_in_los_angeles) == "2025-12-31"
    with timezone.override("Asia/Tokyo"):
        assert admin_date(late_evening_in_los_angeles) == "2026-01-01"
