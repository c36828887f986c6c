"""Concurrent opt-ins and opt-outs for one person never lose an event nor disagree with it."""

import random
import threading

import pytest
from django.db import connection

from consent import services
from consent.models import ConsentEvent, ConsentState
from tests.factories import create_contact, create_program

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

THREADS = 6
ROUNDS = 15


def test_it_leaves_the_state_equal_to_the_last_ledger_event_under_concurrent_changes():
    program = create_program()
    contact = create_contact()
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        try:
            start.wait()
            for _ in range(ROUNDS):
                if rng.random() < 0.5:
                    services.consent_opt_in(
                        contact=contact, program=program, method="api", source=f"worker {seed}"
                    )
                else:
                    services.consent_revoke(
                        contact=contact, programs=[program], method="api", source=f"worker {seed}"
                    )
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert ConsentEvent.objects.count() == THREADS * ROUNDS  # nothing lost
    last = ConsentEvent.objects.order_by("-occurred_at", "-id").first()
    state = ConsentState.objects.get(contact=contact, program=program)  # exactly one row
    assert state.last_event_id == last.pk
    assert state.status == last.resulting_status


def test_it_creates_one_contact_when_the_same_new_number_opts_in_twice_at_once():
    program = create_program()
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def worker() -> None:
        try:
            start.wait()
            services.consent_opt_in(
                phone="+14155559876", program=program, method="api", source="race"
            )
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert ConsentEvent.objects.filter(phone="+14155559876").count() == 4
    assert ConsentState.objects.filter(contact__phone="+14155559876").count() == 1
