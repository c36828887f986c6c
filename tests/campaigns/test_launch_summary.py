"""The launch step: what will happen (recipients, exclusions, segments, cost, quiet hours),
then a confirm button that launches through `campaign_launch`."""

from datetime import datetime
from decimal import Decimal
from tempfile import gettempdir
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from campaigns.fanout import fanout_all
from campaigns.launch import launch_summary
from campaigns.models import Campaign, CampaignVariant
from consent import services
from messaging.models import OutboundMessage, SenderKind
from templates.encoding import analyze
from tests.a11y import axe_violations
from tests.conftest import admin_login
from tests.factories import (
    create_approved_version,
    create_campaign,
    create_contact,
    create_program,
    create_template,
    create_user,
    marketer,
    opt_in,
)

LONG_BODY = (
    "Acme: {first_name|there}, our weekend sale starts Friday: 20% off every tent, sleeping "
    "bag, lantern, stove and cooler at https://acme.example/sale Reply STOP to opt out"
)


@pytest.fixture
def program(db):
    return create_program("offers")


@pytest.fixture
def audience_of_five(program):
    """Three opted in, one opted out, one never asked."""
    people = [create_contact(first_name=f"P{n}") for n in range(5)]
    for person in people[:4]:
        opt_in(person, program)
    services.consent_revoke(
        contact=people[3], programs=[program], method="keyword", source="STOP to +18335550100"
    )
    return people


@pytest.mark.django_db
def test_it_counts_recipients_and_exclusions_exactly_as_fan_out_will(program, audience_of_five):
    campaign = create_campaign(program, bodies=[LONG_BODY])
    summary = launch_summary(campaign)
    assert summary.problems == []
    assert (summary.eligible, summary.excluded, summary.exact) == (
        3,
        {"opted_out": 1, "no_consent": 1},
        True,
    )
    campaign.status = "sending"
    campaign.save(update_fields=["status"])
    fanout_all(campaign)
    written = Campaign.objects.get(pk=campaign.pk)
    assert OutboundMessage.objects.filter(campaign=campaign, status="queued").count() == 3
    assert written.excluded == summary.excluded


@pytest.mark.django_db
def test_it_gives_worst_case_segments_and_the_cost_by_sender_kind(
    program, audience_of_five, settings
):
    settings.SMS_PRICE_PER_SEGMENT = {"short_code": "0.0100", "10dlc": "0.0050"}
    campaign = create_campaign(program, bodies=[LONG_BODY])
    campaign.senders.update(kind=SenderKind.SHORT_CODE)
    summary = launch_summary(campaign)
    # 12 characters is the longest plausible first name the content checks assume.
    worst = analyze(LONG_BODY.replace("{first_name|there}", "x" * 12))
    assert worst.segments == 2  # the body alone is one segment; a long name makes it two
    assert analyze(LONG_BODY.replace("{first_name|there}", "there")).segments == 1
    (variant,) = summary.variants
    assert (variant.segments, variant.encoding) == (2, "GSM-7")
    assert (
        variant.segments_ucs2 == analyze(LONG_BODY.replace("{first_name|there}", "ç" * 12)).segments
    )
    assert summary.total_segments == 3 * 2
    assert summary.price_per_segment == Decimal("0.0100")
    assert summary.cost == Decimal("0.06")


@pytest.mark.django_db
def test_it_forecasts_quiet_hours_in_the_recipients_local_time(program):
    for _ in range(2):  # 415: California
        opt_in(create_contact(), program)
    night_in_california = datetime(2026, 3, 11, 5, 0, tzinfo=ZoneInfo("UTC"))  # 22:00 PDT
    campaign = create_campaign(program, schedule="at", send_at=night_in_california)
    summary = launch_summary(campaign)
    assert summary.eligible == 2
    assert (summary.quiet_sampled, summary.quiet_held) == (2, 2)
    assert summary.quiet_until[0] == datetime(2026, 3, 11, 15, 0, tzinfo=ZoneInfo("UTC"))
    assert any(rule.startswith("US 08:00") for rule in summary.quiet_rules)


@pytest.mark.django_db
def test_it_shows_the_local_time_window_of_a_local_time_campaign(program):
    opt_in(create_contact(phone="+12125550123"), program)  # New York
    opt_in(create_contact(phone="+14155550123"), program)  # California
    campaign = create_campaign(
        program,
        schedule="local",
        local_send_date=datetime(2030, 6, 4).date(),
        local_send_time=datetime(2030, 6, 4, 10, 0).time(),
    )
    summary = launch_summary(campaign)
    utc = ZoneInfo("UTC")
    assert summary.window == (
        datetime(2030, 6, 4, 14, 0, tzinfo=utc),
        datetime(2030, 6, 4, 17, 0, tzinfo=utc),
    )
    assert summary.quiet_held == 0


@pytest.mark.django_db
def test_it_reads_a_bounded_number_of_rows_whatever_the_audience(
    program, django_assert_max_num_queries
):
    for _ in range(30):
        opt_in(create_contact(), program)
    campaign = create_campaign(program)
    with django_assert_max_num_queries(30):
        summary = launch_summary(campaign)
    assert summary.eligible == 30


@pytest.mark.django_db
def test_a_bigger_audience_is_estimated_from_the_rows_read_and_says_so(
    client, program, monkeypatch
):
    monkeypatch.setattr("campaigns.launch.SAMPLE_LIMIT", 10)
    for _ in range(30):
        opt_in(create_contact(), program)
    campaign = create_campaign(program)
    summary = launch_summary(campaign)
    assert (summary.read, summary.exact) == (11, False)
    assert summary.quiet_sampled <= 11  # the quiet-hours forecast looks at rows already read
    client.force_login(create_user("root", superuser=True))
    html = client.get(reverse("admin:campaigns_campaign_launch", args=[campaign.pk])).content
    assert "Estimated: the audience is bigger than the 10 rows read" in html.decode()
    assert "Launch to about" in html.decode()


@pytest.mark.django_db
def test_the_launch_step_shows_the_summary_and_the_confirm_button_launches(
    client, program, audience_of_five, no_quiet_hours, django_capture_on_commit_callbacks
):
    campaign = create_campaign(program)
    client.force_login(create_user("root", superuser=True))
    url = reverse("admin:campaigns_campaign_launch", args=[campaign.pk])
    page = client.get(url).content.decode()
    assert 'id="launch-eligible">3<' in page
    assert "Opted out" in page and "No consent" in page
    assert Campaign.objects.get(pk=campaign.pk).status == "draft"  # looking launches nothing
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url)
    assert response.status_code == 302
    assert Campaign.objects.get(pk=campaign.pk).status in ("sending", "completed")
    assert client.get(url).status_code == 302  # launched: no second launch step


@pytest.mark.django_db
def test_launch_problems_disable_the_confirm_button(client, program):
    campaign = create_campaign(program)
    campaign.variants.all().delete()
    client.force_login(create_user("root", superuser=True))
    url = reverse("admin:campaigns_campaign_launch", args=[campaign.pk])
    page = client.get(url).content.decode()
    assert "Add at least one variant" in page
    assert 'id="launch-confirm" disabled' in page
    client.post(url)
    assert Campaign.objects.get(pk=campaign.pk).status == "draft"


@pytest.mark.django_db
def test_variants_offer_only_approved_versions_of_the_program_and_freeze_once_launched(
    client, program
):
    campaign = create_campaign(program)
    other = create_approved_version(create_template(create_program("alerts"), name="Other"))
    ours = campaign.variants.get().template_version
    client.force_login(create_user("root", superuser=True))
    url = reverse("admin:campaigns_campaign_change", args=[campaign.pk])
    page = client.get(url)
    formset = page.context["inline_admin_formsets"][0].formset
    assert len(formset.forms) == 1  # no stray blank row
    choices = set(formset.forms[0].fields["template_version"].queryset)
    assert ours in choices and other not in choices
    variant = CampaignVariant(campaign=campaign, label="B", template_version=other)
    with pytest.raises(Exception, match="another program"):
        variant.full_clean()

    Campaign.objects.filter(pk=campaign.pk).update(status="sending")
    inline = client.get(url).context["inline_admin_formsets"][0]
    assert not inline.has_add_permission and not inline.has_change_permission
    assert not inline.has_delete_permission


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_marketer_sees_what_will_happen_then_launches(
    browser_page, live_server, program, audience_of_five, no_quiet_hours
):
    campaign = create_campaign(program, bodies=[LONG_BODY])
    admin_login(browser_page, live_server, marketer().username)
    browser_page.goto(f"{live_server.url}/admin/campaigns/campaign/{campaign.pk}/change/")
    browser_page.click("#campaign-launch")
    expect(browser_page.locator("#launch-eligible")).to_have_text("3")
    expect(browser_page.locator("#launch-exclusions")).to_contain_text("Opted out")
    expect(browser_page.locator("#launch-segments")).to_contain_text("6")
    expect(browser_page.locator("#launch-cost")).to_contain_text("USD")
    browser_page.screenshot(path=f"{gettempdir()}/t13f-launch.png", full_page=True)
    assert axe_violations(browser_page, include="#content-main") == []
    browser_page.get_by_role("button", name="Launch to 3 recipients").click()
    expect(browser_page.locator(".messagelist")).to_contain_text("completed")
    assert Campaign.objects.get(pk=campaign.pk).status == "completed"
