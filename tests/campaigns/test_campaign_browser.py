"""The campaign and review buttons, clicked in real Chromium (they live inside the change form)."""

import pytest
from playwright.sync_api import expect

from campaigns.models import Campaign
from templates.models import TemplateVersion
from tests.conftest import admin_login
from tests.factories import (
    compliance_approver,
    create_campaign,
    create_contact,
    create_program,
    create_template,
    create_version,
    marketer,
    opt_in,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_a_marketer_launches_a_campaign_and_sees_its_progress(
    browser_page, live_server, no_quiet_hours
):
    program = create_program("offers")
    campaign = create_campaign(program)
    for _ in range(3):
        opt_in(create_contact(), program)
    create_contact()  # no consent: shown as left out
    admin_login(browser_page, live_server, marketer().username)
    browser_page.goto(f"{live_server.url}/admin/campaigns/campaign/{campaign.pk}/change/")
    browser_page.click("#campaign-launch")  # the launch step: what will happen, then confirm
    browser_page.click("#launch-confirm")
    expect(browser_page.locator(".messagelist")).to_contain_text("completed")
    expect(browser_page.locator("#campaign-progress")).to_contain_text("3 sent, 1 blocked")
    expect(browser_page.locator("#campaign-exclusions")).to_contain_text("no_consent")
    assert Campaign.objects.get(pk=campaign.pk).status == "completed"


def test_compliance_approves_a_version_with_the_button(browser_page, live_server):
    mia = marketer()
    version = create_version(create_template(owner=mia), author=mia)
    version.submit(by=mia)
    admin_login(browser_page, live_server, compliance_approver().username)
    browser_page.goto(f"{live_server.url}/admin/templates/templateversion/{version.pk}/change/")
    browser_page.fill("#sms-review-note", "Matches the registered samples")
    browser_page.click("#version-approve")
    expect(browser_page.locator(".messagelist")).to_contain_text("is approved")
    version.refresh_from_db()
    assert version.status == "approved" and version.review_note == "Matches the registered samples"
    assert TemplateVersion.objects.filter(status="approved").count() == 1
