"""Compliance signs a program review off in real Chromium: acknowledge, resolve, prepare a new
snapshot, sign off; the pages pass axe-core (critical and serious) on our markup."""

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
)

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
    review = program_review_run(registration=registration, trigger="schedule")
    links = review.findings.get(code="undeclared_links")
    keywords = review.findings.get(code="keyword_mismatch")
    page = browser_page

    admin_login(page, live_server, compliance_approver().username)
    page.goto(f"{live_server.url}/admin/campaigns/programreview/")
    expect(page.locator("#open-findings-chart")).to_be_visible()
    assert axe_violations(page, include="#content") == []

    page.goto(f"{live_server.url}/admin/campaigns/programreview/{review.pk}/change/")
    expect(page.locator(f"#finding-{links.pk}")).to_contain_text("undeclared_links")
    assert axe_violations(page, include="#content") == []

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

    review = ProgramReview.objects.get(pk=review.pk)
    assert review.sign_off_note == "Weekly review done"
    assert review.signed_off_by.username == "carl_compliance"
