"""The incident admin: the list, the evidence, resolving with a reason (which resumes)."""

import pytest

from campaigns.models import CampaignEvent, Incident
from tests.factories import compliance_approver, create_campaign, create_program, support_agent

pytestmark = pytest.mark.django_db


@pytest.fixture
def incident():
    campaign = create_campaign(create_program("offers"), status="paused")
    return Incident.objects.create(
        kind="opt_out_rate", campaign=campaign, rate=0.031, threshold=0.02,
        evidence={"counts": {"sent": 400, "opt_outs": 12}, "examples": [{"consent_event": 7}]},
    )  # fmt: skip


def test_it_lists_and_shows_an_incident_with_its_evidence(client, incident):
    client.force_login(compliance_approver())

    listing = client.get("/admin/campaigns/incident/")
    page = client.get(f"/admin/campaigns/incident/{incident.pk}/change/")

    assert listing.status_code == 200 and "3.1%" in listing.content.decode()
    body = page.content.decode()
    assert page.status_code == 200
    assert "&quot;opt_outs&quot;: 12" in body and 'id="incident-banner"' in body
    assert client.get("/admin/campaigns/incident/add/").status_code == 403


def test_resolving_needs_a_reason_and_resumes_the_campaign(client, incident):
    approver = compliance_approver()
    client.force_login(approver)
    url = f"/admin/campaigns/incident/{incident.pk}/resolve/"

    client.post(url, {"why": ""})
    incident.refresh_from_db()
    assert incident.status == "open"

    client.post(url, {"why": "The list was an old import; removed it"})
    incident.refresh_from_db()
    incident.campaign.refresh_from_db()
    assert (incident.status, incident.resolved_by) == ("resolved", approver)
    assert incident.campaign.status == "sending"
    assert CampaignEvent.objects.filter(campaign=incident.campaign, by=approver).exists()


def test_support_cannot_resolve_an_incident(client, incident):
    client.force_login(support_agent())

    response = client.post(f"/admin/campaigns/incident/{incident.pk}/resolve/", {"why": "x"})

    assert response.status_code == 403
    incident.refresh_from_db()
    assert incident.status == "open"
