"""Compliance signs a program review off in real Chromium: acknowledge, resolve, prepare a new
snapshot, sign off; the pages pass axe-core (critical and serious) on our markup."""

import tempfile
from pathlib import Path

import pytest
from playwright.sync_api import expect

from campaigns.registrations.models import ProgramReview, RegistrationSnapshot
from campaigns.registrations.review import program_review_run
from tests.a11y import axe_violations
from tests.campaigns.registration_helpers import create_registration, send
from tests.conftest import admin_login
from tests.factories import (
    compliance_approver,
    create_approved_version,
    create_program,
    create_sender,
    create_template,
    marketer,
)

SCREENSHOT = Path(tempfile.gettempdir()) / "review_signed_off.png"  # to look at, not kept

SELECT_FILTER = frozenset({"aria-prohibited-attr"})

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_compliance_works_through_a_review_and_signs_it_off(browser_page, live_server):
    program = create_program("offers")
    sender = create_sender(program, kind="10dlc")
    registration = create_registration(
        program,
        [sender],
        has_embedded_links=False,
        link_domains=[],
        message_samples=[
            "Acme: [first name], 20% off this weekend in store. Reply STOP to opt out",
            "Acme: [first name], tents are back in stock in store. Reply STOP to opt out",
        ],
    )
    version = create_approved_version(create_template(program, name="Weekend sale"))
    send(sender, program, version=version, count=2)
    program.join_keywords = ["JOIN", "DEALS"]
    program.save(update_fields=["join_keywords"])
    program_review_run(registration=registration, trigger="schedule")  # last week's
    page = browser_page

    admin_login(page, live_server, compliance_approver().username)
    page.goto(f"{live_server.url}/admin/campaigns/registration/{registration.pk}/change/")
    # Django's own filter_horizontal widget puts aria-label on a <span> (not our markup).
    assert axe_violations(page, include="#content", known=SELECT_FILTER) == []
    page.click("#review-now")
    expect(page.locator(".messagelist")).to_contain_text("Reviewed 2 messages")
    review = ProgramReview.objects.latest("id")
    assert review.trigger == "admin"
    links = review.findings.get(code="undeclared_links")
    keywords = review.findings.get(code="keyword_mismatch")
    expect(page.locator(f"#finding-{links.pk}")).to_contain_text("undeclared_links")
    assert axe_violations(page, include="#content") == []

    page.goto(f"{live_server.url}/admin/campaigns/programreview/")
    expect(page.locator("#open-findings-chart")).to_be_visible()
    assert axe_violations(page, include="#content") == []
    page.goto(f"{live_server.url}/admin/campaigns/programreview/{review.pk}/change/")

    page.click("#sign-off")  # too early: findings are open
    expect(page.locator(".messagelist")).to_contain_text("every open finding")

    page.fill(f"#note-{keywords.pk}", "DEALS goes into the next snapshot")
    page.click(f"#acknowledge-{keywords.pk}")
    expect(page.locator(f"#finding-{keywords.pk} .finding-status")).to_have_text("Acknowledged")

    page.check(f"#finding-{links.pk} input[name=finding]")
    page.click("#prepare-snapshot")
    expect(page.locator(".messagelist")).to_contain_text("Draft v2 prepared")
    expect(page.locator(".snapshot-diff")).to_contain_text("has embedded links")
    assert axe_violations(page, include="#content") == []
    draft = RegistrationSnapshot.objects.get(registration=registration, number=2)
    assert draft.has_embedded_links is True and draft.status == "draft"

    page.goto(f"{live_server.url}/admin/campaigns/programreview/{review.pk}/change/")
    page.fill(f"#note-{links.pk}", "Answered by snapshot v2")
    page.click(f"#resolve-{links.pk}")
    expect(page.locator(f"#finding-{links.pk} .finding-status")).to_have_text("Resolved")
    page.fill("#sign-off-note", "Weekly review done")
    page.click("#sign-off")
    expect(page.locator("#sign-off-state")).to_contain_text("Signed off")
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    review = ProgramReview.objects.get(pk=review.pk)
    assert review.sign_off_note == "Weekly review done"
    assert review.signed_off_by.username == "carl_compliance"


def test_the_findings_list_fits_at_1280_and_marketing_reads_the_review_without_a_link(
    browser_page, live_server
):
    program = create_program("offers")
    sender = create_sender(program, kind="10dlc")
    registration = create_registration(
        program,
        [sender],
        has_embedded_links=False,
        link_domains=[],
        message_samples=[
            "Acme: [first name], 20% off this weekend in store. Reply STOP to opt out",
            "Acme: [first name], tents are back in stock in store. Reply STOP to opt out",
        ],
    )
    version = create_approved_version(create_template(program, name="Weekend sale"))
    send(sender, program, version=version, count=2)
    review = program_review_run(registration=registration, trigger="schedule")
    page = browser_page

    admin_login(page, live_server, marketer().username)
    page.goto(f"{live_server.url}/admin/campaigns/reviewfinding/")
    table = page.locator("#result_list")
    expect(table).to_contain_text(f"#{review.pk} of ")
    assert table.locator("a[href*='/programreview/']").count() == 0  # Marketing may not open it
    fits = "t => t.scrollWidth <= t.closest('.results').clientWidth"
    assert table.evaluate(fits), "the findings table overflows at 1280 px"
    assert axe_violations(page, include="#content-main") == []
