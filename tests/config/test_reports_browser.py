"""Each report in real Chromium: its chart is drawn and axe-core finds nothing critical or serious
in our markup; an incident's banner shows on its campaign and a person resolves it."""

import pytest
from playwright.sync_api import expect

from campaigns.models import Incident
from tests.a11y import axe_violations
from tests.conftest import admin_login
from tests.factories import create_user

from .report_helpers import reporting_data

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_every_report_draws_its_chart_and_passes_axe(browser_page, live_server):
    data = reporting_data()
    create_user("root", superuser=True)
    page = browser_page
    admin_login(page, live_server, "root")
    pages = {
        "/admin/reports/program/": "#overview-chart",
        f"/admin/reports/campaigns/{data['campaign'].pk}/": "#funnel-chart",
        "/admin/reports/flows/": "#flow-chart",
        "/admin/reports/senders/": "#sender-chart",
    }
    for url, chart in pages.items():
        page.goto(f"{live_server.url}{url}")
        bars = page.locator(f"{chart} rect.bar")
        assert bars.count() > 0, url
        drawn = bars.evaluate_all("rects => rects.filter(r => r.getBBox().height > 0).length")
        assert drawn > 0, f"{url}: no bar has a height"
        expect(page.locator(f"{chart} title").first).not_to_be_empty()
        assert axe_violations(page, include="#content") == [], url
    page.set_viewport_size({"width": 390, "height": 844})  # a phone: wide tables scroll in place
    for url in pages:
        page.goto(f"{live_server.url}{url}")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, url
        assert axe_violations(page, include="#content") == [], url
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/admin/reports/campaigns/")
    assert axe_violations(page, include="#content") == []
    page.goto(f"{live_server.url}/admin/")
    expect(page.get_by_role("link", name="Sender health")).to_be_visible()


def test_an_incident_shows_on_its_campaign_and_a_person_resolves_it(browser_page, live_server):
    data = reporting_data()
    campaign = data["campaign"]
    campaign.__class__.objects.filter(pk=campaign.pk).update(status="paused")
    incident = Incident.objects.create(
        kind="filtered_share", campaign=campaign, rate=0.08, threshold=0.05,
        evidence={"counts": {"sent": 100, "filtered": 8}, "examples": []},
    )  # fmt: skip
    create_user("root", superuser=True)
    page = browser_page
    admin_login(page, live_server, "root")

    page.goto(f"{live_server.url}/admin/campaigns/campaign/{campaign.pk}/change/")
    expect(page.locator("#incident-banner")).to_contain_text("Carrier filtering (30007) share 8.0%")
    page.goto(f"{live_server.url}/admin/")
    expect(page.locator("#home-attention")).to_contain_text("Incident:")
    page.goto(f"{live_server.url}/admin/campaigns/incident/{incident.pk}/change/")
    assert axe_violations(page, include="#content") == []
    page.fill("#id_why", "Carrier confirmed the filter was lifted")
    page.click("#incident-resolve-button")

    expect(page.locator(".messagelist")).to_contain_text(
        "Incident resolved and the campaign resumed"
    )
    incident.refresh_from_db()
    campaign.refresh_from_db()
    assert incident.status == "resolved" and incident.resolved_by.username == "root"
    assert campaign.status == "sending"
