"""Flow runs and fan-out count into the daily counters, and a rebuild agrees with them."""

from datetime import timedelta

import pytest
from django.db.models import Sum
from django.utils import timezone

from campaigns.fanout import fanout_all
from consent.services import consent_revoke
from messaging import counters
from messaging.dispatch import Dispatcher
from messaging.models import DailyCount
from tests.factories import create_campaign, create_contact, create_program, opt_in

from .flow_helpers import fire, make_flow, program_with_sender, subscriber

pytestmark = pytest.mark.django_db


def sums(scope: str) -> dict[tuple[int, str], int]:
    rows = (
        DailyCount.objects.filter(scope=scope)
        .values_list("key", "metric")
        .annotate(n=Sum("count"))
        .order_by()
    )
    return {(key, metric): n for key, metric, n in rows}


def test_flow_runs_count_by_outcome_and_reason():
    service = program_with_sender()
    flow = make_flow(service, anchor="appointment_at", offset=timedelta(hours=-24))
    soon = (timezone.now() + timedelta(hours=3)).isoformat()
    later = (timezone.now() + timedelta(days=3)).isoformat()
    fire(subscriber(service), data={"appointment_at": later})
    fire(subscriber(service), data={"appointment_at": later})
    fire(subscriber(service), data={"appointment_at": soon})  # the reminder's time has passed
    fire(create_contact(), data={"appointment_at": later})  # never opted in

    counted = sums("flow")
    assert counted[(flow.pk, "runs")] == 4
    assert counted[(flow.pk, "run_queued")] == 2
    assert sum(n for (_, metric), n in counted.items() if metric.startswith("run_")) == 4
    counters.rebuild()
    assert sums("flow") == counted


def test_fan_out_counts_the_people_targeted():
    program = create_program("offers")
    campaign = create_campaign(program, status="sending")
    people = [create_contact() for _ in range(5)]
    for person in people:
        opt_in(person, program)
    consent_revoke(contact=people[0], programs=[program], method="keyword", source="STOP")

    fanout_all(campaign, batch_size=2)

    assert sums("campaign")[(campaign.pk, "targeted")] == 5  # the excluded one included
    counters.rebuild()
    assert sums("campaign")[(campaign.pk, "targeted")] == 5


def test_a_flow_message_counts_under_its_flow(no_quiet_hours, locmem_sms):
    service = program_with_sender()
    flow = make_flow(
        service, trigger="order.delivered", body="Acme Service: how was it? Reply STOP to opt out"
    )
    other = make_flow(service, trigger="order.shipped")
    _, [run] = fire(subscriber(service), type="order.delivered")
    assert run.message.flow_id == flow.pk

    assert Dispatcher().run_batch().sent == 1

    counted = sums("flow")
    assert (counted[(flow.pk, "sent")], counted[(flow.pk, "segments")]) == (1, 1)
    assert not any(key == other.pk for key, _ in counted)
    counters.rebuild()
    assert sums("flow") == counted
