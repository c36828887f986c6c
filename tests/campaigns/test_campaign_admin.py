"""Campaign and messaging admin: smoke tests, progress chart, transitions, test sends."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from campaigns.fanout import fanout_all
from campaigns.models import Audience, Campaign
from messaging.models import OutboundMessage
from tests.factories import create_campaign, create_contact, create_program, create_user, opt_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def program():
    return create_program("offers")


@pytest.fixture
def root(client):
    client.force_login(create_user("root", superuser=True))
    return client


@pytest.mark.parametrize(
    "url",
    [
        "admin:campaigns_campaign_changelist",
        "admin:campaigns_audience_changelist",
        "admin:campaigns_campaignevent_changelist",
        "admin:messaging_sender_changelist",
        "admin:messaging_outboundmessage_changelist",
        "admin:messaging_quiethoursrule_changelist",
        "admin:messaging_reassignednumbercheck_changelist",
        "admin:campaigns_campaign_add",
        "admin:campaigns_audience_add",
        "admin:messaging_sender_add",
        "admin:messaging_quiethoursrule_add",
    ],
)
def test_every_page_renders(root, program, url):
    create_campaign(program)
    assert root.get(reverse(url)).status_code == 200


def test_the_campaign_list_shows_progress_without_a_query_per_row(
    root, program, django_assert_max_num_queries
):
    for n in range(5):
        campaign = create_campaign(program, name=f"C{n}", status="sending")
        opt_in(create_contact(), program)
        fanout_all(campaign)
    with django_assert_max_num_queries(12):
        page = root.get(reverse("admin:campaigns_campaign_changelist"))
    assert page.content.decode().count('class="campaign-progress"') == 5


def test_the_change_page_shows_progress_and_exclusions(root, program):
    campaign = create_campaign(program, status="sending")
    opt_in(create_contact(), program)
    create_contact()  # no consent
    fanout_all(campaign)
    html = root.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])).content.decode()
    assert "1 queued, 1 blocked" in html
    assert "no_consent" in html


def test_launch_fans_out_sends_and_completes(
    root, program, django_capture_on_commit_callbacks, no_quiet_hours
):
    from messaging.providers import locmem

    locmem.outbox.clear()
    campaign = create_campaign(program)
    contact = create_contact()
    opt_in(contact, program)
    url = reverse("admin:campaigns_campaign_transition", args=[campaign.pk, "launch"])
    with django_capture_on_commit_callbacks(execute=True):
        assert root.post(url).status_code == 302
    campaign.refresh_from_db()
    assert campaign.fanout_done and campaign.status == "completed"
    message = OutboundMessage.objects.get(campaign=campaign)
    assert message.status == "sent"
    assert [m.to for m in locmem.outbox] == [contact.phone]


def test_launch_problems_are_shown_not_raised(root, program):
    campaign = create_campaign(program)
    campaign.senders.clear()
    url = reverse("admin:campaigns_campaign_transition", args=[campaign.pk, "launch"])
    response = root.post(url, follow=True)
    assert "Choose at least one active sender." in response.content.decode()
    campaign.refresh_from_db()
    assert campaign.status == "draft"


def test_pause_resume_cancel_actions_report_done_and_skipped(root, program):
    sending = create_campaign(program, name="A", status="sending")
    draft = create_campaign(program, name="B")
    url = reverse("admin:campaigns_campaign_changelist")
    response = root.post(
        url, {"action": "pause_action", ACTION_CHECKBOX_NAME: [sending.pk, draft.pk]}, follow=True
    )
    assert "Pause: done 1, skipped 1." in response.content.decode()
    root.post(url, {"action": "resume_action", ACTION_CHECKBOX_NAME: [sending.pk]})
    assert Campaign.objects.get(pk=sending.pk).status == "sending"
    root.post(url, {"action": "cancel_action", ACTION_CHECKBOX_NAME: [sending.pk, draft.pk]})
    assert set(Campaign.objects.values_list("status", flat=True)) == {"cancelled"}


def test_a_test_send_to_a_number_without_consent_is_blocked_and_said(root, program):
    campaign = create_campaign(program)
    url = reverse("admin:campaigns_campaign_test_send", args=[campaign.pk])
    response = root.post(url, {"phone": "(415) 555-2671"}, follow=True)
    assert "Test not sent" in response.content.decode()
    assert OutboundMessage.objects.get().reason == "no_consent"


def test_the_audience_page_shows_a_live_count_and_sample(root, program):
    audience = Audience.objects.create(name="Texans", filters={"state_in": ["TX"]})
    texan = create_contact(state="TX", first_name="Tex")
    opt_in(texan, program)
    create_contact(state="FL")
    html = root.get(reverse("admin:campaigns_audience_change", args=[audience.pk])).content.decode()
    assert "1 contacts" in html and "1 opted in to offers" in html and "Tex" in html


def test_a_bad_audience_filter_is_refused_with_its_name(root):
    response = root.post(
        reverse("admin:campaigns_audience_add"), {"name": "Bad", "filters": '{"colour": "red"}'}
    )
    assert response.status_code == 200
    assert "Unknown filter colour" in response.content.decode()


def test_the_message_log_finds_a_number_in_any_format(root, program):
    campaign = create_campaign(program, status="sending")
    contact = create_contact(phone="+14155552671")
    fanout_all(campaign)
    response = root.get(
        reverse("admin:messaging_outboundmessage_changelist"), {"q": "(415) 555-2671"}
    )
    [message] = response.context["cl"].result_list
    assert message.contact == contact
    page = root.get(reverse("admin:messaging_outboundmessage_change", args=[message.pk]))
    assert "no_consent" in page.content.decode()
