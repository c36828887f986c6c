"""Incidents: a sending campaign whose messages are carrier-filtered, failing or opted out of
beyond a threshold is paused with the evidence, the partners are told, and a person resumes it."""

import itertools
import threading
import time

import pytest
from django.db import connection

from campaigns.fanout import fanout_all
from campaigns.incidents import (
    IncidentError,
    incident_check_campaign,
    incident_check_sender,
    incident_resolve,
    incidents_check,
)
from campaigns.models import Campaign, CampaignEvent, Incident
from messaging.callbacks import status_callback_receive
from messaging.dispatch import Dispatcher
from messaging.models import MessageStatus, OutboundMessage, WebhookDelivery
from messaging.partner_webhooks import webhook_subscription_create
from messaging.providers import SendResult
from messaging.tasks import dispatch
from tests.factories import (
    create_campaign,
    create_contact,
    create_program,
    create_user,
    opt_in,
)

_sids = itertools.count(1)


class Provider:
    """Accepts every message, taking `delay` seconds each (a real provider's round trip)."""

    def __init__(self, delay: float = 0.0):
        self.delay = delay

    def send(self, request):
        if self.delay:
            time.sleep(self.delay)
        return SendResult(provider_sid=f"SM{next(_sids):032x}")

    def find_sent(self, request, *, since):
        return None


def dispatcher(provider):
    return Dispatcher(backend=provider, sleep=lambda s: None, policy_hold=lambda m, now: None)


def sending_campaign(people: int) -> Campaign:
    program = create_program("offers")
    campaign = create_campaign(program, status="sending")
    for _ in range(people):
        opt_in(create_contact(), program)
    fanout_all(campaign)
    return campaign


def filter_some(campaign: Campaign, n: int, code: int = 30007) -> None:
    """The carrier answers `undelivered` with `code` for `n` of the campaign's sent messages."""
    sent = OutboundMessage.objects.filter(campaign=campaign, status=MessageStatus.SENT)
    for message in sent.order_by("pk")[:n]:
        status_callback_receive(
            params={"MessageSid": message.provider_sid, "MessageStatus": "undelivered",
                    "ErrorCode": str(code)}
        )  # fmt: skip


@pytest.fixture
def thresholds(settings):
    settings.INCIDENT_MIN_SAMPLE = 50
    settings.INCIDENT_FILTERED_SHARE = 0.05
    settings.INCIDENT_FAILURE_RATE = 0.10
    settings.INCIDENT_OPT_OUT_RATE = 0.02
    return settings


@pytest.mark.django_db
def test_it_pauses_a_campaign_whose_messages_are_filtered_and_tells_partners(thresholds):
    campaign = sending_campaign(120)
    thresholds.WEBHOOK_ALLOW_PRIVATE_URLS = True
    webhook_subscription_create(
        name="Ops", url="http://127.0.0.1:9/hook", events=["incident.opened"]
    )
    dispatcher(Provider()).run_batch(limit=100)
    filter_some(campaign, 8)  # 8% of 100 sent

    incident = incident_check_campaign(campaign)

    campaign.refresh_from_db()
    assert campaign.status == "paused"
    assert incident.kind == "filtered_share" and incident.status == "open"
    assert incident.rate == pytest.approx(0.08)
    assert incident.evidence["counts"]["sent"] == 100
    assert incident.evidence["counts"]["filtered"] == 8
    assert len(incident.evidence["examples"]) == 5
    assert all(e["error_code"] == 30007 for e in incident.evidence["examples"])
    assert CampaignEvent.objects.filter(campaign=campaign, to_status="paused").exists()
    delivery = WebhookDelivery.objects.get(event_type="incident.opened")
    assert delivery.payload["data"]["campaign_id"] == campaign.pk
    # Paused: the rest does not go out, and a second check opens nothing more.
    assert dispatcher(Provider()).run_batch().claimed == 0
    assert incident_check_campaign(campaign) is None
    assert Incident.objects.count() == 1


@pytest.mark.django_db
def test_the_dispatch_task_pauses_a_campaign_right_after_a_bad_batch(
    thresholds, locmem_sms, no_quiet_hours
):
    """No schedule runs here: the batch's own hook checks the campaign it sent for."""
    campaign = sending_campaign(100)
    thresholds.SMS_DISPATCH_BATCH = 60
    locmem_sms.fail_next(transient=False, code=30007, count=10)  # 10 filtered of 60 handed over

    report = dispatch()

    assert (report["sent"], report["failed"], report["campaigns"]) == (50, 10, [campaign.pk])
    campaign.refresh_from_db()
    assert campaign.status == "paused"
    incident = Incident.objects.get(campaign=campaign)
    assert incident.kind == "filtered_share" and incident.status == "open"
    assert incident.evidence["counts"]["filtered"] == 10
    assert dispatch()["claimed"] == 0  # the other 40 wait for a person
    assert OutboundMessage.objects.filter(campaign=campaign, status="queued").count() == 40


@pytest.mark.django_db
def test_a_campaign_its_last_batch_completes_is_completed_not_paused(
    thresholds, locmem_sms, no_quiet_hours
):
    """Completion is asked first: pausing a campaign with nothing left to send would only
    leave it to be resumed into a send that never ends."""
    campaign = sending_campaign(60)
    locmem_sms.fail_next(transient=False, code=30007, count=10)

    dispatch()

    campaign.refresh_from_db()
    assert campaign.status == "completed"
    assert not Incident.objects.exists()


@pytest.mark.django_db
def test_it_waits_for_the_minimum_sample(thresholds):
    campaign = sending_campaign(40)
    dispatcher(Provider()).run_batch()
    filter_some(campaign, 20)  # half filtered, but only 40 sent

    assert incident_check_campaign(campaign) is None
    campaign.refresh_from_db()
    assert campaign.status == "sending"


@pytest.mark.django_db
def test_it_resumes_only_when_a_person_says_why(thresholds):
    campaign = sending_campaign(60)
    dispatcher(Provider()).run_batch(limit=50)
    filter_some(campaign, 10)
    incident = incident_check_campaign(campaign)
    compliance = create_user("carol", "Compliance")

    with pytest.raises(IncidentError):
        incident_resolve(incident=incident, by=compliance, why="  ")
    incident.refresh_from_db()
    assert incident.status == "open"

    incident_resolve(incident=incident, by=compliance, why="Carrier confirmed a filter glitch")

    incident.refresh_from_db()
    campaign.refresh_from_db()
    assert (incident.status, incident.resolved_by) == ("resolved", compliance)
    assert incident.resolution_note == "Carrier confirmed a filter glitch"
    assert campaign.status == "sending"
    resumed = CampaignEvent.objects.get(campaign=campaign, to_status="sending", by=compliance)
    assert "Carrier confirmed" in resumed.note
    assert dispatcher(Provider()).run_batch().sent == 10  # the rest goes out
    # The next check judges only what was sent since: too few yet, so no new pause.
    assert incident_check_campaign(campaign) is None
    campaign.refresh_from_db()
    assert campaign.status == "sending"
    assert incident.evidence["counts_at_resolution"]["filtered"] == 10


@pytest.mark.django_db
def test_a_resumed_campaign_is_paused_again_by_new_trouble_only(thresholds):
    campaign = sending_campaign(130)
    dispatcher(Provider()).run_batch(limit=60)
    filter_some(campaign, 6)  # 10% of 60
    first = incident_check_campaign(campaign)
    incident_resolve(incident=first, by=create_user("carol", "Compliance"), why="Checked")
    dispatcher(Provider()).run_batch(limit=60)
    assert incident_check_campaign(campaign) is None  # the same 6 failures do not count twice

    filter_some(campaign, 6)  # 6 more failures, against the 60 sent since: 10% again

    second = incident_check_campaign(campaign)
    assert second is not None and second.evidence["counts"]["filtered"] == 6
    campaign.refresh_from_db()
    assert campaign.status == "paused"


@pytest.mark.django_db
def test_a_sender_gets_an_incident_but_nothing_is_paused(thresholds):
    campaign = sending_campaign(60)
    dispatcher(Provider()).run_batch()
    filter_some(campaign, 12, code=30003)  # 20% failing, not filtered

    thresholds.INCIDENT_MIN_SAMPLE = 1000  # the campaign check stays quiet
    assert incidents_check() == {"campaigns": 0, "senders": 0}
    thresholds.INCIDENT_MIN_SAMPLE = 50
    incident = incident_check_sender(campaign.senders.get())

    assert incident.kind == "failure_rate" and incident.campaign is None
    assert incident_check_sender(campaign.senders.get()) is None  # one open per kind


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_it_pauses_a_campaign_mid_send_while_dispatch_runs(thresholds):
    """A worker keeps dispatching batches while the callbacks and the check run beside it."""
    campaign = sending_campaign(400)
    provider = Provider(delay=0.002)
    errors: list[BaseException] = []
    batches: list[int] = []

    def worker() -> None:
        try:
            while (claimed := dispatcher(provider).run_batch(limit=40).claimed) > 0:
                batches.append(claimed)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=worker)
    thread.start()
    deadline = time.monotonic() + 30
    while OutboundMessage.objects.filter(campaign=campaign, status="sent").count() < 100:
        assert time.monotonic() < deadline, "dispatch made no progress"
        time.sleep(0.01)
    filter_some(campaign, 20)
    incident = incident_check_campaign(campaign)
    paused_with = OutboundMessage.objects.filter(
        campaign=campaign, provider_sid__isnull=False
    ).count()
    thread.join(timeout=60)

    assert errors == [] and not thread.is_alive()
    assert incident is not None and incident.kind == "filtered_share"
    campaign.refresh_from_db()
    assert campaign.status == "paused"
    handed_off = OutboundMessage.objects.filter(campaign=campaign, provider_sid__isnull=False)
    # Only the batch the worker had already claimed may finish after the pause.
    assert handed_off.count() <= paused_with + 40
    assert OutboundMessage.objects.filter(campaign=campaign, status="queued").count() > 0


@pytest.mark.django_db
def test_a_campaign_paused_after_its_last_send_completes_when_resumed(thresholds):
    campaign = sending_campaign(60)
    dispatcher(Provider()).run_batch()  # everything is sent ...
    filter_some(campaign, 10)  # ... and then the carrier's answers come in
    incident = incident_check_campaign(campaign)
    campaign.refresh_from_db()
    assert campaign.status == "paused"

    incident_resolve(incident=incident, by=create_user("carol", "Compliance"), why="Checked")

    campaign.refresh_from_db()
    assert campaign.status == "completed"  # not left sending with nothing to send
