"""The audience builder: rows that write the JSON filter language, a bounded live count and a
sample from an admin endpoint, and the raw JSON kept for experts (both ways)."""

import json
from tempfile import gettempdir

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from campaigns import admin_audience
from campaigns.models import Audience
from consent.models import Tag
from tests.a11y import axe_violations
from tests.conftest import admin_login
from tests.factories import create_contact, create_program, marketer, opt_in, support_agent

PREVIEW = "/admin/campaigns/audience/preview/"


def _preview(client, filters):
    return client.post(PREVIEW, json.dumps({"filters": filters}), content_type="application/json")


@pytest.fixture
def people(db):
    program = create_program("offers")
    vip = Tag.objects.create(name="vip")
    texans = [create_contact(state="TX", first_name=f"Tex{n}") for n in range(3)]
    texans[0].tags.add(vip)
    opt_in(texans[0], program)
    create_contact(state="FL", first_name="Flo")
    return texans


@pytest.mark.django_db
def test_it_counts_and_samples_the_matching_contacts(client, people):
    client.force_login(marketer())
    data = _preview(client, {"state_in": ["TX"]}).json()
    assert (data["count"], data["capped"]) == (3, False)
    assert data["opted_in"] == [{"program": "offers", "count": 1, "capped": False}]
    assert [row["name"] for row in data["sample"]] == ["Tex2", "Tex1", "Tex0"]
    assert data["sample"][0]["url"] == reverse("admin:consent_contact_change", args=[people[2].pk])
    assert _preview(client, {"state_in": ["TX"], "tags_any": ["vip"]}).json()["count"] == 1


@pytest.mark.django_db
def test_it_stops_counting_at_the_cap(client, people, monkeypatch, django_assert_max_num_queries):
    monkeypatch.setattr(admin_audience, "COUNT_CAP", 2)
    client.force_login(marketer())
    with django_assert_max_num_queries(12):
        data = _preview(client, {}).json()
    assert (data["count"], data["capped"]) == (2, True)


@pytest.mark.django_db
def test_bad_filters_get_a_clear_error_and_nothing_else(client, people):
    client.force_login(marketer())
    response = _preview(client, {"colour": ["red"]})
    assert response.status_code == 400
    assert response.json()["error"].startswith("Unknown filter colour")
    response = client.post(PREVIEW, "not json", content_type="application/json")
    assert response.status_code == 400


@pytest.mark.django_db
def test_staff_who_cannot_see_audiences_cannot_preview(client, people):
    client.force_login(support_agent())
    assert _preview(client, {}).status_code == 403


@pytest.mark.django_db
def test_the_audience_page_counts_within_the_cap(client, people, monkeypatch):
    monkeypatch.setattr(admin_audience, "COUNT_CAP", 2)
    audience = Audience.objects.create(name="Everyone", filters={})
    client.force_login(marketer())
    page = client.get(reverse("admin:campaigns_audience_change", args=[audience.pk]))
    assert "more than 2 contacts" in page.content.decode()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_marketer_builds_an_audience_with_rows_and_the_json_follows(
    browser_page, live_server, people
):
    admin_login(browser_page, live_server, marketer().username)
    page = browser_page
    page.goto(f"{live_server.url}/admin/campaigns/audience/add/")
    builder = page.locator("#audience-builder")
    expect(builder).to_be_visible()
    expect(page.locator("#audience-count")).to_have_text("4 contacts match")
    page.fill("#id_name", "Texan VIPs")
    page.get_by_role("button", name="Add a condition").click()
    page.get_by_label("Condition 1: field").select_option("state")
    page.get_by_label("Condition 1: value").fill("TX")
    expect(page.locator("#audience-count")).to_have_text("3 contacts match")
    page.get_by_role("button", name="Add a condition").click()
    page.get_by_label("Condition 2: value").fill("vip")
    expect(page.locator("#audience-count")).to_have_text("1 contact matches")
    expect(page.locator("#audience-sample")).to_contain_text("Tex0")
    expect(page.locator("#audience-opted-in")).to_contain_text("1 of them opted in to offers")
    assert json.loads(page.input_value("#id_filters")) == {
        "state_in": ["TX"],
        "tags_any": ["vip"],
    }
    page.screenshot(path=f"{gettempdir()}/t13f-audience.png", full_page=True)
    assert axe_violations(page, include="#audience-builder") == []

    # An expert edits the JSON: the rows follow, keys they cannot show are kept.
    page.fill("#id_filters", '{"attributes": {"loyalty_tier": "gold"}, "locale_in": ["es"]}')
    expect(page.get_by_label("Condition 1: attribute name")).to_have_value("loyalty_tier")
    expect(page.get_by_label("Condition 1: value")).to_have_value("gold")
    expect(page.get_by_label("Condition 2: field")).to_have_value("locale")
    page.get_by_label("Condition 2: value").fill("es, en")
    assert json.loads(page.input_value("#id_filters")) == {
        "attributes": {"loyalty_tier": "gold"},
        "locale_in": ["es", "en"],
    }
    page.get_by_role("button", name="Remove condition 1").click()
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text("Texan VIPs")
    assert Audience.objects.get(name="Texan VIPs").filters == {"locale_in": ["es", "en"]}
