"""The campaign page in real Chromium: held messages by reason with their next try, a progress
bar that says its figures in words, and every control named for a screen reader."""

import zoneinfo
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import expect

from campaigns.services import campaign_launch
from messaging.models import OutboundMessage
from tests.a11y import DJANGO_ADMIN_KNOWN, axe_violations
from tests.conftest import admin_login
from tests.factories import create_campaign, create_contact, create_program, marketer, opt_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture
def mia():
    return marketer()


@pytest.fixture
def launched(no_quiet_hours, mia):
    program = create_program("offers")
    campaign = create_campaign(program)
    for _ in range(3):
        opt_in(create_contact(), program)
    campaign_launch(campaign=campaign, by=mia)
    # Two of the three wait for the recipients' local morning (as quiet hours would hold them).
    release = timezone.now() + timedelta(hours=9)
    held = OutboundMessage.objects.filter(campaign=campaign).order_by("pk")[:2]
    OutboundMessage.objects.filter(pk__in=[m.pk for m in held]).update(
        status="held", reason="quiet_hours", next_attempt_at=release
    )
    return campaign, release


def test_it_shows_held_messages_by_reason_with_the_next_try(
    browser_page, live_server, launched, mia
):
    campaign, release = launched
    admin_login(browser_page, live_server, mia.username)
    browser_page.goto(f"{live_server.url}/admin/campaigns/campaign/{campaign.pk}/change/")
    held = browser_page.locator("#campaign-held")
    expect(held).to_contain_text("quiet_hours")
    row = held.locator("tr", has_text="quiet_hours")
    expect(row).to_contain_text("2")
    shown = timezone.localtime(release, zoneinfo.ZoneInfo(settings.ADMIN_TIME_ZONE))
    expect(row).to_contain_text(shown.strftime("%Y-%m-%d %H:%M %Z"))  # the staff's zone, named
    bar = browser_page.get_by_role("progressbar", name="Messages settled")
    expect(bar).to_have_attribute("aria-valuemax", "3")
    expect(bar).to_have_attribute("aria-valuenow", "1")
    expect(browser_page.locator(".campaign-progress-legend")).to_contain_text("1 of 3 settled")


def test_every_control_on_the_campaign_page_has_a_name(browser_page, live_server, launched, mia):
    campaign, _ = launched
    admin_login(browser_page, live_server, mia.username)
    browser_page.goto(f"{live_server.url}/admin/campaigns/campaign/{campaign.pk}/change/")
    expect(browser_page.get_by_role("textbox", name="Test phone number")).to_be_visible()
    assert axe_violations(browser_page, known=DJANGO_ADMIN_KNOWN) == []

    # A draft's variants are editable (a launched campaign's are read-only): each control named.
    draft = create_campaign(campaign.program)
    browser_page.goto(f"{live_server.url}/admin/campaigns/campaign/{draft.pk}/change/")
    expect(browser_page.get_by_label("Weight, campaign variant 1")).to_be_visible()
    # (The draft form's send-at date and time boxes are Django's own split widget.)
    assert axe_violations(browser_page, include=".inline-group", known=DJANGO_ADMIN_KNOWN) == []
