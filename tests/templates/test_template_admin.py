"""Templates admin: list, review queue, editor analysis, transitions, diff, preview."""

import json

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from templates.models import TemplateVersion, VersionStatus
from tests.factories import (
    compliance_approver,
    create_contact,
    create_template,
    create_user,
    create_version,
    marketer,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def mia(client):
    return marketer()


@pytest.fixture
def carl():
    return compliance_approver()


@pytest.fixture
def pending(mia):
    version = create_version(create_template(owner=mia), author=mia)
    version.submit(by=mia)
    return version


@pytest.mark.parametrize(
    "name", ["messagetemplate", "templateversion", "reviewqueueitem", "templateversionevent"]
)
def test_it_renders_each_changelist(client, pending, name):
    client.force_login(create_user("root", superuser=True))
    assert client.get(reverse(f"admin:templates_{name}_changelist")).status_code == 200
    assert (
        client.get(reverse(f"admin:templates_{name}_changelist"), {"q": "sale"}).status_code == 200
    )


def test_the_template_list_shows_approved_and_pending_versions(client, pending, carl):
    pending.approve(by=carl)
    pending.new_draft(by=pending.author).submit(by=pending.author)
    client.force_login(carl)
    response = client.get(reverse("admin:templates_messagetemplate_changelist"))
    [template] = response.context["cl"].result_list
    assert template.approved_number == 1 and template.pending_count == 1


def test_marketing_writes_a_draft_and_unknown_tokens_are_named(client, mia):
    template = create_template(owner=mia)
    client.force_login(mia)
    url = reverse("admin:templates_templateversion_add")
    bad = client.post(url, {"template": template.pk, "body": "Hi {frist_name} {promo}"})
    assert bad.status_code == 200
    html = bad.content.decode()
    assert "{frist_name}" in html and "{promo}" in html
    assert not TemplateVersion.objects.exists()
    good = client.post(url, {"template": template.pk, "body": "Acme: hi {first_name|there}"})
    assert good.status_code == 302
    assert TemplateVersion.objects.get().author == mia


def test_the_review_queue_lists_pending_versions_for_compliance(client, pending, carl):
    create_version(pending.template, author=pending.author)  # a draft: not in the queue
    client.force_login(carl)
    response = client.get(reverse("admin:templates_reviewqueueitem_changelist"))
    assert list(response.context["cl"].result_list) == [pending]


def test_marketing_does_not_see_the_review_queue(client, mia, pending):
    client.force_login(mia)
    assert client.get(reverse("admin:templates_reviewqueueitem_changelist")).status_code == 403


def test_compliance_approves_with_the_button(client, pending, carl):
    client.force_login(carl)
    page = client.get(reverse("admin:templates_templateversion_change", args=[pending.pk]))
    assert "Approve" in page.content.decode()
    url = reverse("admin:templates_templateversion_transition", args=[pending.pk, "approve"])
    assert client.post(url, {"note": "fine"}).status_code == 302
    pending.refresh_from_db()
    assert pending.status == VersionStatus.APPROVED and pending.reviewer == carl


def test_an_author_with_review_rights_cannot_approve_their_own(client, carl):
    version = create_version(create_template(owner=carl), author=carl)
    version.submit(by=carl)
    client.force_login(carl)
    page = client.get(reverse("admin:templates_templateversion_change", args=[version.pk]))
    assert "someone else must review it" in page.content.decode()
    url = reverse("admin:templates_templateversion_transition", args=[version.pk, "approve"])
    client.post(url)
    version.refresh_from_db()
    assert version.status == VersionStatus.PENDING_REVIEW


def test_marketing_cannot_approve(client, mia, pending):
    other = create_user("other_marketer", "Marketing")
    client.force_login(other)
    url = reverse("admin:templates_templateversion_transition", args=[pending.pk, "approve"])
    assert client.post(url).status_code == 403


def test_the_reject_action_asks_for_a_reason(client, pending, carl):
    client.force_login(carl)
    url = reverse("admin:templates_reviewqueueitem_changelist")
    data = {"action": "reject_action", ACTION_CHECKBOX_NAME: [pending.pk]}
    assert client.post(url, data).status_code == 200
    assert client.post(url, data | {"confirm": "yes", "note": "off-brand"}).status_code == 302
    pending.refresh_from_db()
    assert pending.status == VersionStatus.REJECTED and pending.review_note == "off-brand"


def test_the_approve_action_reports_done_and_skipped(client, pending, carl):
    draft = create_version(pending.template, author=pending.author)
    client.force_login(carl)
    url = reverse("admin:templates_templateversion_changelist")
    response = client.post(
        url,
        {"action": "approve_action", ACTION_CHECKBOX_NAME: [pending.pk, draft.pk]},
        follow=True,
    )
    assert "done 1, skipped 1" in response.content.decode()


def test_edit_as_new_version_makes_a_draft(client, pending, mia):
    client.force_login(mia)
    url = reverse("admin:templates_templateversion_transition", args=[pending.pk, "new_draft"])
    response = client.post(url)
    draft = TemplateVersion.objects.get(number=2)
    assert response.url == reverse("admin:templates_templateversion_change", args=[draft.pk])
    assert draft.body == pending.body and draft.status == VersionStatus.DRAFT


def test_the_analyze_endpoint_reports_encoding_segments_and_findings(client, mia, pending):
    client.force_login(mia)
    url = reverse("admin:templates_templateversion_analyze")
    body = "Acme: “Sale” \u2013 today… ç " + "x" * 10
    data = client.post(
        url,
        json.dumps({"body": body, "template": pending.template_id}),
        content_type="application/json",
    ).json()
    assert data["encoding"] == "UCS-2"
    assert "“" in data["non_gsm"] and "ç" in data["non_gsm"]
    assert data["smart_encoding"]["replaced"]
    assert "missing_opt_out_language" in {f["code"] for f in data["findings"]}
    assert client.post(url, "not json", content_type="application/json").status_code == 400


def test_the_diff_shows_what_changed(client, pending, mia):
    draft = pending.new_draft(by=mia, body=pending.body.replace("20%", "30%"))
    client.force_login(mia)
    page = client.get(reverse("admin:templates_templateversion_diff", args=[draft.pk]))
    html = page.content.decode()
    # Word by word: the changed word struck whole, never scattered letters ("<del>2</del>").
    assert "<del>20%</del><ins>30%</ins>" in html


def test_the_preview_renders_for_a_sample_contact(client, pending, mia):
    contact = create_contact(first_name="O'Brien")
    client.force_login(mia)
    url = reverse("admin:templates_templateversion_preview", args=[pending.pk])
    html = client.get(url, {"contact": contact.pk}).content.decode()
    assert "O&#x27;Brien, 20% off" in html  # HTML-escaped on the page, raw in the message
