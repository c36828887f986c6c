"""The consent app's hand-built statements (`consent.sql`) answer exactly as the ORM rules
and queries they stand in for."""

import itertools
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from consent import services, sql
from consent.models import (
    ConsentEvent,
    ConsentKind,
    ConsentState,
    ConsentStatus,
    Contact,
    Suppression,
    SuppressionReason,
    chain_heads,
)
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


def test_the_chain_head_statement_finds_what_the_orm_query_finds():
    program = create_program("offers")
    first, second = create_contact(), create_contact()
    for contact in (first, second):
        opt_in(contact, program)
    services.consent_revoke(contact=first, programs=[program], method="api", source="crm")
    by_sql = chain_heads({first.pk})  # one contact: the hand-built statement
    by_orm = chain_heads({first.pk, second.pk})  # several: the ORM query
    assert by_sql == {first.pk: by_orm[first.pk]}
    assert by_sql[first.pk][0] == 2
    assert chain_heads({create_contact().pk}) == {}


def test_the_lock_statement_reads_the_number_and_the_erasure():
    kept, erased = create_contact(), create_contact()
    services.contact_erase(contact=erased)
    for contact in (kept, erased):
        with connection.cursor() as cursor:
            cursor.execute(sql.contact_lock_sql(False), [contact.pk])
            phone, is_erased = cursor.fetchone()
        row = Contact.objects.filter(pk=contact.pk).values_list("phone", "erased_at").get()
        assert (phone, bool(is_erased)) == (row[0], row[1] is not None)


def test_the_state_upsert_leaves_each_state_at_its_latest_ledger_event():
    program, other = create_program("offers"), create_program("alerts")
    now = timezone.now()
    contact = create_contact()
    opt_in(contact, program, at=now - 3 * HOUR)
    services.consent_revoke(contact=contact, programs=[program], method="api", source="crm")
    opt_in(contact, program, at=now - 2 * HOUR)  # back-dated: must not override the opt-out
    opt_in(contact, other, at=now - 3 * HOUR)
    opt_in(contact, other, at=now - HOUR)
    for state in ConsentState.objects.filter(contact=contact):
        latest = (
            ConsentEvent.objects.filter(contact=contact, program=state.program_id)
            .exclude(kind=ConsentKind.PREFERENCE)
            .order_by("-occurred_at", "-id")
            .first()
        )
        assert (state.last_event_id, state.status, state.since) == (
            latest.pk,
            latest.resulting_status,
            latest.occurred_at,
        )
        first_in = (
            ConsentEvent.objects.filter(contact=contact, program=state.program_id)
            .filter(resulting_status=ConsentStatus.OPTED_IN)
            .order_by("occurred_at", "id")
            .first()
        )
        if state.status == ConsentStatus.OPTED_IN:
            assert state.opted_in_at == first_in.occurred_at  # the run began at the first
    assert ConsentState.objects.get(contact=contact, program=program).status == "opted_out"
