"""Two workers firing one event at once still make one run per flow and one message."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from campaigns.flows import flow_event_fire
from campaigns.models import FlowEvent, FlowRun
from messaging.models import OutboundMessage

from .flow_helpers import make_flow, program_with_sender, subscriber

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

THREADS = 4


def test_concurrent_firings_of_one_event_make_one_run_per_flow():
    service = program_with_sender()
    make_flow(service)
    make_flow(service, offset=timedelta(hours=2))
    event = FlowEvent.objects.create(
        type="appointment.booked",
        contact=subscriber(service),
        occurred_at=timezone.now(),
        data={"appointment_at": (timezone.now() + timedelta(days=3)).isoformat()},
    )
    start = threading.Barrier(THREADS)
    errors: list[BaseException] = []
    answers: list[list[int]] = []

    def worker() -> None:
        try:
            start.wait()
            answers.append(sorted(run.pk for run in flow_event_fire(event=event)))
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert FlowRun.objects.count() == 2
    assert OutboundMessage.objects.count() == 2
    assert all(answer == answers[0] for answer in answers)  # everyone sees the same runs
