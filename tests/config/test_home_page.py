"""The admin home page per persona: what needs me now, the last 7 days, pages by task."""

from datetime import timedelta
from tempfile import gettempdir

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from campaigns.fanout import fanout_all
from config.lib.attention import AttentionItem, attention_provider, unregister
from config.lib.process_cache import clear_all as clear_process_caches
from consent import services
from messaging.models import (
    Conversation,
    OutboundMessage,
    RevocationReview,
    WebhookSubscription,
)
from messaging.simulate import inbound_simulate
from tests.a11y import axe_violations
from tests.conftest import admin_login
from tests.factories import (
    compliance_approver,
    create_campaign,
    create_contact,
    create_program,
    create_template,
    create_user,
    create_version,
    marketer,
    opt_in,
    support_agent,
)


@pytest.fixture
def office(db, settings):
    """A bit of everything: a version in review, a held campaign, a conversation, an overdue
    revocation review, a disabled partner webhook, and a week of traffic."""
    settings.SMS_BACKEND = "locmem"
    settings.SMS_AFTER_HOURS_REPLY = ""
    clear_process_caches()
    program = create_program("offers")
    mia = marketer()
    version = create_version(create_template(program, owner=mia), author=mia)
    version.submit(by=mia)
    campaign = create_campaign(program, name="Spring sale", status="sending")
    people = [create_contact(first_name=f"P{n}") for n in range(4)]
    for person in people:
        opt_in(person, program)
    fanout_all(campaign)
    held = OutboundMessage.objects.filter(campaign=campaign).order_by("pk")[:2]
    OutboundMessage.objects.filter(pk__in=[m.pk for m in held]).update(
        status="held", reason="quiet_hours"
    )
    now = timezone.now()
    # Two sent and delivered today, one sent ten days ago (outside the window).
    sent = OutboundMessage.objects.filter(campaign=campaign, status="queued").order_by("pk")
    for n, message in enumerate(sent):
        OutboundMessage.objects.filter(pk=message.pk).update(
            status="delivered", provider_sid=f"SM{n:032x}", sent_at=now, delivered_at=now
        )
    OutboundMessage.objects.filter(pk=held[0].pk).update(sent_at=now - timedelta(days=10))
    inbound_simulate(contact=people[0], body="Do you have tents?", by=None)
    inbound_simulate(contact=people[1], body="not interested", by=None)
    RevocationReview.objects.update(deadline=now - timedelta(hours=1))
    services.consent_revoke(
        contact=people[2], programs=[program], method="keyword", source="STOP to +18335550100"
    )
    WebhookSubscription.objects.create(
        name="CRM", url="https://crm.example/hook", secret="s", disabled_at=now,
        disabled_reason="10 failures in a row", consecutive_failures=10,
    )  # fmt: skip
    yield {"mia": mia, "campaign": campaign, "version": version}
    clear_process_caches()


def _home(client, user):
    client.force_login(user)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    return response


def _titles(response) -> list[str]:
    return [item.title for item in response.context["attention"]]


@pytest.mark.django_db
def test_a_marketer_sees_campaigns_held_by_reason_and_their_version_in_review(client, office):
    response = _home(client, office["mia"])
    titles = _titles(response)
    assert "Your template versions waiting for a reviewer" in titles
    campaign = next(i for i in response.context["attention"] if "Spring sale" in i.title)
    assert campaign.count == 2 and campaign.lines == ("2 held: Quiet hours",)
    assert not any("Revocation" in t or "conversation" in t or "webhook" in t for t in titles)
    sections = [s["title"] for s in response.context["sections"]]
    assert sections[0] == "Marketing"
    assert "Internals (superusers)" not in sections


@pytest.mark.django_db
def test_compliance_sees_versions_to_review_overdue_reviews_and_failing_webhooks(client, office):
    response = _home(client, compliance_approver())
    items = {i.title: i for i in response.context["attention"]}
    assert items["Template versions awaiting your review"].count == 1
    assert items["Revocation reviews overdue"].count == 1
    assert items["Partner webhooks failing"].lines == ("CRM: disabled (10 failures in a row)",)
    assert "Open conversations nobody has taken" not in items
    html = response.content.decode()
    assert "Task queue" not in html and "Status callbacks" not in html


@pytest.mark.django_db
def test_an_approver_is_not_asked_to_review_their_own_version(client, office):
    reviewer = compliance_approver()
    program = office["campaign"].program
    version = create_version(create_template(program, name="Own"), author=reviewer)
    version.submit(by=reviewer)
    response = _home(client, reviewer)
    items = {i.title: i for i in response.context["attention"]}
    assert items["Template versions awaiting your review"].count == 1  # Mia's, not this one


@pytest.mark.django_db
def test_support_sees_conversations_and_reviews_but_no_campaigns(client, office):
    agent = support_agent()
    Conversation.objects.filter(contact__first_name="P1").update(assignee=agent)
    response = _home(client, agent)
    items = {i.title: i for i in response.context["attention"]}
    assert items["Open conversations assigned to you"].count == 1
    assert items["Open conversations nobody has taken"].count == 1
    assert items["Revocation reviews overdue"].count == 1
    assert not any("Campaign" in t for t in items)
    assert response.context["sections"][0]["title"] == "Support"


@pytest.mark.django_db
def test_the_last_7_days_count_only_the_window(client, office):
    response = _home(client, create_user("root", superuser=True))
    totals = {s.key: s.total for s in response.context["series"]}
    assert totals == {"sent": 2, "delivered": 2, "opt_outs": 1, "replies": 2}
    html = response.content.decode()
    assert "<svg" in html and "Last 7 days, per day" in html
    assert "Internals (superusers)" in html


@pytest.mark.django_db
def test_the_home_page_costs_a_fixed_number_of_queries(
    client, office, django_assert_max_num_queries
):
    root = create_user("root", superuser=True)
    client.force_login(root)
    client.get(reverse("admin:index"))  # discovers the providers once
    with django_assert_max_num_queries(30) as captured:
        client.get(reverse("admin:index"))
    before = len(captured)
    for n in range(5):
        opt_in(create_contact(), office["campaign"].program)
        create_campaign(office["campaign"].program, name=f"More {n}", status="sending")
    with django_assert_max_num_queries(before):
        client.get(reverse("admin:index"))
    sql = " ".join(q["sql"] for q in captured.captured_queries).upper()
    assert 'COUNT(*) FROM "MESSAGING_OUTBOUNDMESSAGE"' not in sql.replace("  ", " ")


@pytest.mark.django_db
def test_open_operator_alerts_come_first_for_those_who_may_see_them(client, office):
    from messaging.models import OperatorAlert

    OperatorAlert.objects.create(kind="unconfigured_number", subject="+18335550199")
    root = create_user("root", superuser=True)
    first = _home(client, root).context["attention"][0]
    assert (first.title, first.count) == ("Operator alerts open", 1)
    client.logout()
    assert "Operator alerts open" not in _titles(_home(client, office["mia"]))


@pytest.mark.django_db
def test_a_later_feature_adds_its_own_item_without_editing_the_home_page(client, office):
    @attention_provider(order=5)
    def incidents(request):
        return [AttentionItem("Incidents open", 3, "/admin/", "carrier filtering", "urgent")]

    try:
        response = _home(client, support_agent())
        assert _titles(response)[0] == "Incidents open"
    finally:
        unregister(incidents)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize(
    ("persona", "sees", "does_not_see"),
    [
        (marketer, "Campaign “Spring sale” is sending", "Revocation reviews overdue"),
        (compliance_approver, "Template versions awaiting your review", "Open conversations"),
        (support_agent, "Open conversations nobody has taken", "Spring sale"),
    ],
)
def test_each_persona_sees_its_own_home_page(
    browser_page, live_server, office, persona, sees, does_not_see
):
    user = office["mia"] if persona is marketer else persona()
    admin_login(browser_page, live_server, user.username)
    attention = browser_page.locator("#home-attention")
    expect(attention).to_contain_text(sees)
    expect(attention).not_to_contain_text(does_not_see)
    expect(browser_page.locator("#home-tasks")).to_be_visible()
    browser_page.screenshot(path=f"{gettempdir()}/t13f-home-{user.username}.png", full_page=True)
    assert axe_violations(browser_page, include="#content-main") == []


@pytest.mark.django_db
@pytest.mark.postgres
def test_a_busy_week_is_estimated_per_day_and_says_so(client, office, monkeypatch):
    """Past EXACT_CAP rows a series is the planner's estimate per day, never a count of the week."""
    monkeypatch.setattr("config.dashboard.EXACT_CAP", 1)  # the office's 2 sends are "busy"
    response = _home(client, create_user("root", superuser=True))
    series = {s.key: s for s in response.context["series"]}
    assert series["sent"].estimated and series["delivered"].estimated
    assert not series["opt_outs"].estimated  # 1 row: counted
    assert len(series["sent"].by_day) == 7 and all(n >= 0 for n in series["sent"].by_day.values())
    html = response.content.decode()
    assert "are estimates" in html and "Sent about" in html
