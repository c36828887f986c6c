"""{preferences_url}: a signed link to the preference centre, in messages sent one by one."""

import re

import pytest
from django.urls import reverse

from campaigns.services import CampaignError, campaign_launch
from consent.preferences import contact_from_token
from tests.campaigns.flow_helpers import fire, make_flow, program_with_sender, subscriber
from tests.factories import create_campaign, create_program

pytestmark = pytest.mark.django_db

LINK = re.compile(r"https://sms\.acme\.example/preferences/(\S+)/")


def test_a_flow_message_carries_a_working_link_for_its_own_recipient(settings):
    settings.PUBLIC_BASE_URL = "https://sms.acme.example"
    service = program_with_sender()
    make_flow(
        service,
        body="Acme Service: you are booked. Manage texts: {preferences_url} Reply STOP to opt out",
    )
    ana, bo = subscriber(service, first_name="Ana"), subscriber(service, first_name="Bo")

    _, [run_ana] = fire(ana)
    _, [run_bo] = fire(bo)

    token_ana = LINK.search(run_ana.message.body).group(1)
    token_bo = LINK.search(run_bo.message.body).group(1)
    assert contact_from_token(token_ana) == ana
    assert contact_from_token(token_bo) == bo
    assert reverse("consent:preferences", args=[token_ana]) in run_ana.message.body


def test_a_campaign_refuses_the_link_at_launch():
    program = create_program("offers")
    campaign = create_campaign(
        program, bodies=["Acme: 20% off this weekend. Prefs: {preferences_url} Reply STOP to end"]
    )
    with pytest.raises(CampaignError, match="preferences_url"):
        campaign_launch(campaign=campaign, by=campaign.created_by)
    campaign.refresh_from_db()
    assert campaign.status == "draft"
