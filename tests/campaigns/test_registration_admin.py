"""Admin for brands, registrations, snapshots, reviews and findings: smoke tests, permissions,
Review now, sign-off and "prepare a new registration snapshot"."""

from __future__ import annotations

import pytest
from django.urls import reverse

from campaigns.registrations.models import (
    ProgramReview,
    RegistrationSnapshot,
    ReviewFinding,
)
from campaigns.registrations.review import program_review_run
from tests.campaigns.registration_helpers import create_registration, send
from tests.factories import (
    compliance_approver,
    create_approved_version,
    create_program,
    create_sender,
    create_template,
    create_user,
    marketer,
)

pytestmark = pytest.mark.django_db

NO_LINK_SAMPLES = [
    "Acme: [first name], 20% off this weekend in store. Reply STOP to opt out",
    "Acme: [first name], tents are back in stock in store. Reply STOP to opt out",
]


@pytest.fixture
def drifted():
    """A registration declaring no links whose live template links, plus a paperwork-only
    finding (a keyword the registration does not list)."""
    program = create_program("offers")
    sender = create_sender(program, kind="10dlc")
    registration = create_registration(
        program, [sender], has_embedded_links=False, link_domains=[],
        message_samples=NO_LINK_SAMPLES,
    )  # fmt: skip
    version = create_approved_version(create_template(program, name="Weekend sale"))
    send(sender, program, version=version, count=3)
    program.join_keywords = ["JOIN", "DEALS"]
    program.save(update_fields=["join_keywords"])
    review = program_review_run(registration=registration, trigger="schedule")
    return registration, review, sender


@pytest.fixture
def compliance_client(client):
    client.force_login(compliance_approver())
    return client


def test_it_lists_and_opens_every_registration_page(compliance_client, drifted):
    registration, review, sender = drifted
    finding = review.findings.first()
    snapshot = registration.approved_snapshot
    pages = [
        reverse("admin:campaigns_brand_changelist") + "?q=Acme",
        reverse("admin:campaigns_brand_change", args=[registration.brand_id]),
        reverse("admin:campaigns_brand_add"),
        reverse("admin:campaigns_registration_changelist") + "?q=Registration",
        reverse("admin:campaigns_registration_change", args=[registration.pk]),
        reverse("admin:campaigns_registration_add"),
        reverse("admin:campaigns_registrationsnapshot_changelist"),
        reverse("admin:campaigns_registrationsnapshot_change", args=[snapshot.pk]),
        reverse("admin:campaigns_registrationsnapshot_add"),
        reverse("admin:campaigns_programreview_changelist"),
        reverse("admin:campaigns_programreview_change", args=[review.pk]),
        reverse("admin:campaigns_reviewfinding_changelist") + "?code=undeclared_links",
        reverse("admin:campaigns_reviewfinding_changelist") + "?severity=reject&status=open",
        reverse("admin:campaigns_reviewfinding_change", args=[finding.pk]),
        reverse("admin:messaging_sender_change", args=[sender.pk]),
    ]
    for url in pages:
        assert compliance_client.get(url).status_code == 200, url


def test_the_sender_page_shows_its_registration_and_status(compliance_client, drifted):
    registration, _, sender = drifted
    page = compliance_client.get(reverse("admin:messaging_sender_change", args=[sender.pk]))
    assert registration.name in page.content.decode()
    assert "Approved" in page.content.decode()


def test_the_review_list_charts_open_findings_and_marks_overdue_sign_offs(
    compliance_client, drifted
):
    _, review, _ = drifted
    ProgramReview.objects.filter(pk=review.pk).update(
        started_at=review.started_at - review.registration.cadence * 2
    )
    page = compliance_client.get(reverse("admin:campaigns_programreview_changelist")).content
    assert b'<svg id="open-findings-chart"' in page
    assert b"sign-off overdue" in page


def test_the_registration_page_shows_snapshot_diffs(compliance_client, drifted):
    registration, _, _ = drifted
    registration.new_draft(by=create_user("carl"), has_embedded_links=True)
    page = compliance_client.get(
        reverse("admin:campaigns_registration_change", args=[registration.pk])
    ).content.decode()
    assert "Changes from v1 to v2" in page and "has embedded links" in page


def test_review_now_runs_the_review_and_opens_it(compliance_client, drifted):
    registration, _, _ = drifted
    before = ProgramReview.objects.count()
    response = compliance_client.post(
        reverse("admin:campaigns_registration_review_now", args=[registration.pk])
    )
    review = ProgramReview.objects.latest("id")
    assert ProgramReview.objects.count() == before + 1
    assert review.trigger == "admin" and review.by.username == "carl_compliance"
    assert response.url == reverse("admin:campaigns_programreview_change", args=[review.pk])


def test_sign_off_after_acknowledging_and_resolving(compliance_client, drifted):
    _, review, _ = drifted
    url = reverse("admin:campaigns_programreview_sign_off", args=[review.pk])
    compliance_client.post(url, {"note": "too early"})
    review.refresh_from_db()
    assert review.signed_off_at is None  # open findings remain

    links, keywords = (
        review.findings.get(code=c) for c in ("undeclared_links", "keyword_mismatch")
    )
    finding_url = "admin:campaigns_programreview_finding"
    compliance_client.post(
        reverse(finding_url, args=[review.pk, links.pk, "acknowledge"]), {"note": "Resubmitting"}
    )
    compliance_client.post(reverse(finding_url, args=[review.pk, keywords.pk, "resolve"]))
    compliance_client.post(url, {"note": "Checked with the carriers"})

    review.refresh_from_db()
    assert review.signed_off_by.username == "carl_compliance"
    assert ReviewFinding.objects.get(pk=links.pk).note == "Resubmitting"


def test_acknowledging_without_a_note_changes_nothing(compliance_client, drifted):
    _, review, _ = drifted
    finding = review.findings.get(code="undeclared_links")
    compliance_client.post(
        reverse("admin:campaigns_programreview_finding", args=[review.pk, finding.pk,
                                                               "acknowledge"]), {"note": " "}
    )  # fmt: skip
    finding.refresh_from_db()
    assert finding.status == "open"


def test_prepare_a_new_snapshot_prefills_the_proposals_and_shows_the_diff(
    compliance_client, drifted
):
    registration, review, _ = drifted
    ids = list(review.findings.exclude(proposal={}).values_list("pk", flat=True))
    response = compliance_client.post(
        reverse("admin:campaigns_programreview_prepare", args=[review.pk]), {"finding": ids}
    )
    draft = RegistrationSnapshot.objects.get(registration=registration, status="draft")
    assert response.url == reverse("admin:campaigns_registrationsnapshot_change", args=[draft.pk])
    assert draft.has_embedded_links is True and "DEALS" in draft.opt_in_keywords
    page = compliance_client.get(response.url).content.decode()
    assert "Changes from v1 to v2" in page


def test_marketing_sees_only_findings_about_templates_and_cannot_sign_off(client, drifted):
    _, review, _ = drifted
    client.force_login(marketer())
    listed = client.get(reverse("admin:campaigns_reviewfinding_changelist")).context["cl"]
    # The finding about the Weekend sale template, not the registration paperwork.
    assert [f.code for f in listed.result_list] == ["undeclared_links"]
    assert client.get(reverse("admin:campaigns_registration_changelist")).status_code == 403
    url = reverse("admin:campaigns_programreview_sign_off", args=[review.pk])
    assert client.post(url).status_code == 403


def test_snapshot_actions_report_done_and_skipped(compliance_client, drifted):
    registration, _, _ = drifted
    draft = registration.new_draft(by=create_user("carl"), privacy_policy_url="")
    url = reverse("admin:campaigns_registrationsnapshot_changelist")
    response = compliance_client.post(
        url,
        {
            "action": "submit_action",
            "_selected_action": [draft.pk, registration.approved_snapshot_id],
        },
        follow=True,
    )
    text = response.content.decode()
    assert "Submitted: done 0, skipped 2" in text
    assert "privacy_policy_url.required" in text


def test_findings_resolve_action_reports_done_and_skipped(compliance_client, drifted):
    _, review, _ = drifted
    ids = list(review.findings.values_list("pk", flat=True))
    response = compliance_client.post(
        reverse("admin:campaigns_reviewfinding_changelist"),
        {"action": "resolve_action", "_selected_action": ids},
        follow=True,
    )
    assert f"Resolved: done {len(ids)}, skipped 0" in response.content.decode()


def test_each_review_keeps_the_findings_it_raised_after_a_later_run(compliance_client, drifted):
    registration, first, _ = drifted
    raised = set(first.findings_seen.values_list("pk", flat=True))
    second = program_review_run(registration=registration, trigger="manual")

    assert set(first.findings_seen.values_list("pk", flat=True)) == raised  # still there
    page = compliance_client.get(reverse("admin:campaigns_programreview_change", args=[first.pk]))
    assert [f.pk for f in page.context["findings"]] and "no-findings" not in page.content.decode()
    listed = compliance_client.get(reverse("admin:campaigns_reviewfinding_changelist"))
    html = listed.content.decode()
    # The list links each finding to the review it came from, not to the latest run.
    assert reverse("admin:campaigns_programreview_change", args=[first.pk]) in html
    assert reverse("admin:campaigns_programreview_change", args=[second.pk]) not in html


def test_marketing_reads_the_review_of_a_finding_without_a_link_it_cannot_open(client, drifted):
    _, review, _ = drifted
    client.force_login(marketer())
    html = client.get(reverse("admin:campaigns_reviewfinding_changelist")).content.decode()
    assert f"#{review.pk} of " in html
    assert reverse("admin:campaigns_programreview_change", args=[review.pk]) not in html
