"""A flow message waits in the queue until its time, then dispatch sends it like any other."""

from datetime import timedelta

import pytest
from django.utils import timezone

from messaging.dispatch import Dispatcher

from .flow_helpers import fire, make_flow, program_with_sender, subscriber

pytestmark = pytest.mark.django_db


def test_dispatch_sends_a_delayed_flow_message_only_once_it_is_due(
    no_quiet_hours, locmem_sms, monkeypatch
):
    service = program_with_sender()
    make_flow(
        service,
        trigger="order.delivered",
        offset=timedelta(hours=2),
        body="Acme Service: how was your order, {first_name}? Reply STOP to opt out",
    )
    _, [run] = fire(subscriber(service, first_name="Ana"), type="order.delivered")

    assert Dispatcher().run_batch().claimed == 0  # not yet due
    assert locmem_sms.outbox == []

    later = timezone.now() + timedelta(hours=2, minutes=1)
    monkeypatch.setattr(timezone, "now", lambda: later)
    report = Dispatcher().run_batch()

    assert (report.claimed, report.sent) == (1, 1)
    assert [m.body for m in locmem_sms.outbox] == [
        "Acme Service: how was your order, Ana? Reply STOP to opt out"
    ]
    run.message.refresh_from_db()
    assert run.message.status == "sent"
