"""A consent state is what its ledger event says: nothing rewrites it on its own, the database
refuses one that does not follow from its event, and `consent_verify` finds any drift."""

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from consent import services
from consent.consistency import consent_state_check
from consent.models import ConsentState, LedgerImmutableError
from tests.factories import create_contact, create_program, opt_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def opted_out():
    """A contact who opted in to offers, then out: (state, the opt-in event, the opt-out)."""
    program = create_program()
    contact = create_contact()
    joined = opt_in(contact, program, at=timezone.now() - timedelta(days=2))
    [left] = services.consent_revoke(
        contact=contact, programs=[program], method="keyword", source="STOP to 12345"
    )
    return ConsentState.objects.get(contact=contact, program=program), joined, left.event


def test_it_points_each_state_at_the_event_it_derives_from(opted_out):
    state, _, left = opted_out
    assert (state.last_event_id, state.status, state.since) == (
        left.pk,
        left.resulting_status,
        left.occurred_at,
    )


def test_it_refuses_rewriting_a_state_through_the_orm(opted_out):
    state, _, _ = opted_out
    with pytest.raises(LedgerImmutableError):
        ConsentState.objects.filter(pk=state.pk).update(status="opted_in")
    state.status = "opted_in"
    with pytest.raises(LedgerImmutableError):
        state.save()
    with pytest.raises(LedgerImmutableError):
        ConsentState.objects.bulk_update([state], ["status"])
    assert ConsentState.objects.get(pk=state.pk).status == "opted_out"


@pytest.mark.postgres
@pytest.mark.parametrize(
    "sql",
    [
        # The probe's flip: opted out -> opted in, with no ledger row.
        "UPDATE consent_consentstate SET status = 'opted_in', opted_in_at = since",
        # Pointing back at the old opt-in, status and time to match: not the latest event.
        "UPDATE consent_consentstate SET status = 'opted_in', last_event_id = {joined}, "
        "since = (SELECT occurred_at FROM consent_consentevent WHERE id = {joined}), "
        "opted_in_at = (SELECT occurred_at FROM consent_consentevent WHERE id = {joined})",
        "UPDATE consent_consentstate SET since = since - interval '1 day', "
        "opted_out_at = opted_out_at - interval '1 day'",
        "UPDATE consent_consentstate SET program_id = {other}",
    ],
)
def test_it_refuses_a_state_that_does_not_follow_from_its_event_on_postgresql(opted_out, sql):
    state, joined, _ = opted_out
    other = create_program("alerts")
    with (
        pytest.raises(DatabaseError, match=r"follow from|later event"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql.format(joined=joined.pk, other=other.pk))
    assert ConsentState.objects.get(pk=state.pk).status == "opted_out"


@pytest.mark.postgres
def test_it_refuses_inserting_a_state_without_its_event_on_postgresql(opted_out):
    state, _, left = opted_out
    other = create_program("alerts")
    with (
        pytest.raises(DatabaseError, match="follow from"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "INSERT INTO consent_consentstate (contact_id, program_id, status, last_event_id, "
            "since, opted_in_at, updated_at) VALUES (%s, %s, 'opted_in', %s, now(), now(), now())",
            [state.contact_id, other.pk, left.pk],
        )


def test_it_holds_what_a_check_constraint_can_on_every_database(opted_out):
    from django.db import IntegrityError

    state, _, _ = opted_out
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        # Opted in with no start: refused before any trigger is asked.
        cursor.execute(
            "UPDATE consent_consentstate SET status = 'opted_in', opted_in_at = NULL WHERE id = %s",
            [state.pk],
        )


def test_it_keeps_a_newer_state_when_a_back_dated_event_arrives(opted_out):
    state, _, left = opted_out
    old = timezone.now() - timedelta(days=30)
    opt_in(state.contact, state.program, at=old)
    assert ConsentState.objects.get(pk=state.pk).last_event_id == left.pk
    assert consent_state_check().ok


def test_it_verifies_an_untouched_ledger(opted_out, capsys):
    call_command("consent_verify")
    assert "ok: every consent state follows from the ledger" in capsys.readouterr().out


@pytest.fixture
def drifted(opted_out):
    """The state flipped behind the ledger's back (bypassing every guard, as a database owner
    could), and another state missing altogether."""
    state, _, _ = opted_out
    program = create_program("alerts")
    contact = create_contact()
    opt_in(contact, program)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(
            "UPDATE consent_consentstate SET status = 'opted_in', opted_in_at = since "
            "WHERE id = %s",
            [state.pk],
        )
        cursor.execute("DELETE FROM consent_consentstate WHERE contact_id = %s", [contact.pk])
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = origin")
    return state, contact, program


def test_it_names_every_state_that_drifted(drifted, capsys):
    state, contact, program = drifted

    with pytest.raises(CommandError, match="2 consent state"):
        call_command("consent_verify")

    out = capsys.readouterr().out
    assert f"contact #{state.contact_id}, program #{state.program_id}: state “opted_in”" in out
    assert f"contact #{contact.pk}, program #{program.pk}: the ledger sets a state" in out


def test_it_creates_the_weekly_consent_check_schedule():
    from django_q.models import Schedule

    call_command("setup_schedules")
    call_command("setup_schedules")

    schedule = Schedule.objects.get(func="consent.tasks.verify_consent_states")
    assert (schedule.schedule_type, schedule.minutes) == (Schedule.MINUTES, 7 * 24 * 60)
    from consent.tasks import verify_consent_states

    assert verify_consent_states() == {"ok": True, "drifts": 0}


@pytest.mark.postgres
def test_it_checks_a_state_by_index_once_the_ledger_has_grown_on_postgresql():
    """Planned while the ledger held one person (statistics say every event is theirs), the
    check must not keep reading the whole ledger for each state once it has grown: an import
    would slow with every row it adds."""
    program = create_program()
    start = timezone.now() - timedelta(days=30)
    first = create_contact()
    for n in range(4):
        opt_in(first, program, at=start + timedelta(minutes=n))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE consent_consentevent")
    for n in range(8):  # the check runs, and is planned, with those statistics
        opt_in(first, program, at=start + timedelta(hours=1, minutes=n))
    services.consent_opt_in_many(
        opt_ins=[
            services.OptIn(
                phone=f"+1415300{n:04d}", program=program, source="list", occurred_at=start
            )
            for n in range(3000)
        ],
        method="import",
    )

    def seq_scans() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT seq_scan FROM pg_stat_xact_user_tables "
                "WHERE relname = 'consent_consentevent'"
            )
            return cursor.fetchone()[0]

    contact = create_contact()
    before = seq_scans()
    opt_in(contact, program, at=start + timedelta(days=1))
    assert seq_scans() == before
