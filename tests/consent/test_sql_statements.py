"""The consent app's hand-built statements (`consent.sql`) answer exactly as the ORM rules
they stand in for: `Suppression.objects.suppressing` and the consent state."""

import itertools
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from consent import services, sql
from consent.models import ConsentState, Suppression, SuppressionReason
from consent.phones import phone_hash
from tests.factories import create_contact, create_program, next_phone, opt_in

pytestmark = pytest.mark.django_db

HOUR = timedelta(hours=1)


def _suppressed_by_sql(hashed: str, program_id: int | None, at) -> bool:
    moment = connection.ops.adapt_datetimefield_value(at)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {sql.suppressed_sql()}", [hashed, program_id, moment, moment])
        return bool(cursor.fetchone()[0])


def test_it_suppresses_exactly_when_the_orm_rule_does():
    asked, other = create_program("offers"), create_program("alerts")
    at = timezone.now()
    cases = []
    scopes = (None, asked, other)
    made = (at - HOUR, at + HOUR)
    lifted = (None, at - timedelta(minutes=30), at + timedelta(minutes=30))
    for scope, created_at, lifted_at in itertools.product(scopes, made, lifted):
        if lifted_at is not None and lifted_at < created_at:
            continue
        phone = next_phone()
        Suppression.objects.create(
            phone=phone,
            reason=SuppressionReason.MANUAL,
            program=scope,
            created_at=created_at,
            lifted_at=lifted_at,
            lift_note="lifted" if lifted_at else "",
        )
        cases.append(phone_hash(phone))
    cases.append(phone_hash(next_phone()))  # a number never suppressed

    answers = set()
    for hashed, program in itertools.product(cases, (asked, None)):
        by_orm = Suppression.objects.suppressing(hashed, program, at).exists()
        assert _suppressed_by_sql(hashed, program and program.pk, at) == by_orm, (hashed, program)
        answers.add(by_orm)
    assert answers == {True, False}


def test_the_gate_statement_reads_the_state_and_the_rule():
    program = create_program("offers")
    at = timezone.now()
    people = [create_contact() for _ in range(3)]
    opt_in(people[0], program)
    opt_in(people[1], program)
    services.suppression_add(phone=people[1].phone, reason="complaint")
    moment = connection.ops.adapt_datetimefield_value(at)
    for contact in people:
        with connection.cursor() as cursor:
            cursor.execute(
                sql.gate_sql(),
                [contact.pk, program.pk, contact.phone_hash, program.pk, moment, moment],
            )
            status, suppressed = cursor.fetchone()
        state = ConsentState.objects.filter(contact=contact, program=program).first()
        assert status == (state.status if state else None)
        expected = Suppression.objects.suppressing(contact.phone_hash, program, at).exists()
        assert bool(suppressed) == expected


def test_the_standing_statement_answers_for_known_and_unknown_numbers():
    program = create_program("offers")
    known = create_contact()
    opt_in(known, program)
    services.suppression_add(phone=known.phone, reason="complaint")
    at = timezone.now() + HOUR
    moment = connection.ops.adapt_datetimefield_value(at)
    for phone in (known.phone, next_phone()):
        hashed = phone_hash(phone)
        with connection.cursor() as cursor:
            cursor.execute(
                sql.standing_sql(),
                [moment, hashed, program.pk, moment, moment, phone, program.pk],
            )
            status, began, suppressed = cursor.fetchone()
        state = ConsentState.objects.filter(contact__phone=phone, program=program).first()
        assert status == (state.status if state else None)
        assert bool(began) == bool(state and state.since <= at)
        assert bool(suppressed) == Suppression.objects.suppressing(hashed, program, at).exists()
