"""Two identical opt-ins with one Idempotency-Key at the same moment: one event, one answer."""

import threading

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from consent.models import ConsentEvent
from messaging.models import IdempotencyRecord, OutboundMessage
from tests.factories import create_api_client, create_program, create_sender

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

THREADS = 4


def test_it_records_one_event_and_gives_every_racer_the_same_201():
    program = create_program("offers")
    create_sender(program)
    _, key = create_api_client(scopes=["consent:write"])
    data = {
        "phone": "+14155552671",
        "program": "offers",
        "method": "web_form",
        "source": "https://acme.example/join",
        "occurred_at": timezone.now().isoformat(),
        "evidence": {"ip": "203.0.113.7"},
    }
    start = threading.Barrier(THREADS)
    answers: list[tuple[int, dict]] = []
    replayed: list[bool] = []
    errors: list[BaseException] = []

    def post() -> None:
        try:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
            start.wait()
            response = client.post(
                "/api/v1/opt-ins/", data, format="json", HTTP_IDEMPOTENCY_KEY="form-race"
            )
            answers.append((response.status_code, response.json()))
            replayed.append(response.get("Idempotent-Replayed") == "true")
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert [status for status, _ in answers] == [201] * THREADS
    assert all(body == answers[0][1] for _, body in answers)
    assert sorted(replayed) == [False] + [True] * (THREADS - 1)  # one ran, the rest replayed
    assert ConsentEvent.objects.count() == 1
    assert answers[0][1]["id"] == ConsentEvent.objects.get().pk
    assert OutboundMessage.objects.count() == 1
    assert IdempotencyRecord.objects.count() == 1
