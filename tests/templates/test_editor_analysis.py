"""The template editor's analysis: before a template is chosen, after save, and in agreement with
its own findings; a new template and its first version in one step; submit refuses blockers."""

import json

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from templates.admin import analysis_payload
from templates.models import MessageTemplate, TemplateVersion, VersionStatus
from tests.factories import create_program, create_template, create_version, marketer

pytestmark = pytest.mark.django_db

ANALYZE = "admin:templates_templateversion_analyze"


@pytest.fixture
def mia(client):
    user = marketer()
    client.force_login(user)
    return user


def analyze(client, body: str, template) -> dict:
    response = client.post(
        reverse(ANALYZE),
        json.dumps({"body": body, "template": template}),
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    return response.json()


@pytest.mark.parametrize("template", ["", None, "abc"])
def test_it_analyzes_a_body_before_a_template_is_chosen(client, mia, template):
    body = "Hello from Acme, see https://acme.example/x"
    data = analyze(client, body, template)
    assert (data["characters"], data["encoding"], data["segments"]) == (len(body), "GSM-7", 1)
    # The deployment's own link domains apply: a branded link is not "none configured".
    assert "link_domain_not_allowed" not in {f["code"] for f in data["findings"]}


def test_it_checks_a_saved_version_with_its_templates_settings(client, mia, settings):
    settings.SMS_ALLOWED_LINK_DOMAINS = ["deals.example"]
    template = create_template(create_program(brand_name="Acme"), owner=mia)
    version = create_version(template, body="Sale at https://deals.example/s Reply STOP to end")
    page = client.get(reverse("admin:templates_templateversion_change", args=[version.pk]))
    html = page.content.decode()
    # The page's meter asks with the template's id (the select is read-only on a saved version).
    assert f'data-template-id="{template.pk}"' in html
    codes = {f["code"] for f in page.context["analysis"]["findings"]}
    assert "missing_brand_name" in codes
    assert not {c for c in codes if c.startswith("link")}
    data = analyze(client, version.body, str(template.pk))
    assert "missing_brand_name" in {f["code"] for f in data["findings"]}


def test_it_shows_no_empty_error_box_when_the_tokens_parse(client, mia):
    version = create_version(create_template(owner=mia), author=mia)
    html = client.get(
        reverse("admin:templates_templateversion_change", args=[version.pk])
    ).content.decode()
    assert ">None<" not in html
    assert '<p id="sms-token-error" class="errornote" role="alert" hidden></p>' in html


def test_it_counts_segments_the_way_the_segment_warning_does():
    # Literal "{first_name}" (12 characters) would tip the body into a fourth segment; the
    # message as sent has the token at its shortest, and the warning counts it that way.
    body = "Acme: " + "x" * (3 * 153 - 6 - 1) + " {first_name}"
    data = analysis_payload(body)
    warning = next(f for f in data["findings"] if f["code"] == "too_many_segments")
    assert warning["message"].startswith(f"{data['segments']} segments")
    assert data["segments"] == 3 and data["segments_max"] == 4


def test_it_creates_a_template_and_its_first_version_in_one_step(client, mia):
    program = create_program("offers")
    response = client.post(
        reverse("admin:templates_messagetemplate_add"),
        {
            "name": "Spring sale",
            "program": program.pk,
            "category": "promotional",
            "description": "",
            "body": "Acme: {first_name|Hi}, spring sale today. Reply STOP to opt out",
        },
    )
    template = MessageTemplate.objects.get(name="Spring sale")
    version = TemplateVersion.objects.get(template=template)
    assert (template.owner, version.author, version.number) == (mia, mia, 1)
    assert version.status == VersionStatus.DRAFT and version.body.startswith("Acme:")
    assert response.url == reverse("admin:templates_templateversion_change", args=[version.pk])


def test_it_saves_nothing_when_the_first_version_has_an_unknown_token(client, mia):
    response = client.post(
        reverse("admin:templates_messagetemplate_add"),
        {
            "name": "Typo",
            "program": create_program("offers").pk,
            "category": "promotional",
            "body": "Hi {frist_name}",
        },
    )
    assert response.status_code == 200
    assert "{frist_name}" in response.content.decode()
    assert not MessageTemplate.objects.filter(name="Typo").exists()


def test_it_offers_the_first_version_field_on_the_add_page(client, mia):
    html = client.get(reverse("admin:templates_messagetemplate_add")).content.decode()
    assert 'name="body"' in html


def test_the_submit_button_refuses_a_blocking_finding_and_names_it(client, mia):
    version = create_version(
        create_template(owner=mia), author=mia, body="Big sale at https://bit.ly/x"
    )
    response = client.post(
        reverse("admin:templates_templateversion_transition", args=[version.pk, "submit"]),
        follow=True,
    )
    text = response.content.decode()
    assert "cannot be submitted" in text and "public_shortener" in text
    version.refresh_from_db()
    assert version.status == VersionStatus.DRAFT


def test_the_submit_action_skips_a_version_with_a_blocking_finding(client, mia):
    template = create_template(owner=mia)
    other = create_template(template.program, owner=mia, name="Other")
    bad = create_version(template, author=mia, body="See https://bit.ly/x")
    good = create_version(other, author=mia)
    response = client.post(
        reverse("admin:templates_templateversion_changelist"),
        {"action": "submit_action", ACTION_CHECKBOX_NAME: [bad.pk, good.pk]},
        follow=True,
    )
    assert "Submit: done 1, skipped 1." in response.content.decode()
    bad.refresh_from_db()
    assert bad.status == VersionStatus.DRAFT


def test_the_review_queue_counts_read_plainly(client):
    from templates.models import ReviewQueueItem

    assert ReviewQueueItem._meta.verbose_name_plural == "versions awaiting review"
