"""A suppression is never deleted or rewritten: lifting it (once) is the one change, and an
erasure may blank its number. The model, the queryset and, on PostgreSQL, a trigger hold it."""

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction

from consent import services
from consent.models import LedgerImmutableError, Suppression
from tests.factories import create_contact, create_program, create_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def suppression():
    return services.suppression_add(phone="+14155552671", reason="complaint", note="rude reply")


def test_it_refuses_queryset_delete(suppression):
    with pytest.raises(LedgerImmutableError):
        Suppression.objects.filter(pk=suppression.pk).delete()
    assert Suppression.objects.filter(pk=suppression.pk).exists()


@pytest.mark.parametrize(
    "change",
    [
        {"reason": "manual"},
        {"note": "rewritten"},
        {"phone": "+14155550000"},
        {"program": None, "note": "x"},
        {"lifted_at": None},
        {"lift_note": "sneaked in without a lift"},
    ],
)
def test_it_refuses_queryset_updates_other_than_a_lift(suppression, change):
    with pytest.raises(LedgerImmutableError):
        Suppression.objects.filter(pk=suppression.pk).update(**change)
    stored = Suppression.objects.get(pk=suppression.pk)
    assert (stored.reason, stored.note, stored.phone) == ("complaint", "rude reply", "+14155552671")


def test_it_refuses_bulk_update_and_save_of_an_existing_row(suppression):
    suppression.reason = "manual"
    with pytest.raises(LedgerImmutableError):
        Suppression.objects.bulk_update([suppression], ["reason"])
    with pytest.raises(LedgerImmutableError):
        suppression.save()
    assert Suppression.objects.get(pk=suppression.pk).reason == "complaint"


def test_it_lifts_once_and_never_twice(suppression):
    agent, other = create_user("sam_support"), create_user("kim_support")

    assert services.suppression_lift(suppression=suppression, by=agent, note="asked by phone")
    assert not services.suppression_lift(suppression=suppression, by=other, note="again")

    stored = Suppression.objects.get(pk=suppression.pk)
    assert (stored.lifted_by, stored.lift_note) == (agent, "asked by phone")


def test_it_lets_a_queryset_lift_touch_only_active_ones(suppression):
    from django.utils import timezone

    services.suppression_lift(suppression=suppression, by=None, note="first")
    first_lift = Suppression.objects.get(pk=suppression.pk).lifted_at

    lifted = Suppression.objects.filter(pk=suppression.pk).update(
        lifted_at=timezone.now(), lift_note="second"
    )

    assert lifted == 0
    stored = Suppression.objects.get(pk=suppression.pk)
    assert (stored.lifted_at, stored.lift_note) == (first_lift, "first")


def test_it_requires_a_reason_for_a_lift_in_the_database(suppression):
    from django.utils import timezone

    with pytest.raises(IntegrityError), transaction.atomic():
        Suppression.objects.filter(pk=suppression.pk).update(lifted_at=timezone.now(), lift_note="")


def test_it_still_blanks_the_number_on_erasure():
    contact = create_contact(phone="+14155552672")
    services.consent_revoke(contact=contact, revoke_all=True, method="keyword", source="STOP")

    services.contact_erase(contact=contact)

    assert list(Suppression.objects.values_list("phone", flat=True)) == [None, None]


@pytest.mark.postgres
@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM consent_suppression",
        "UPDATE consent_suppression SET reason = 'manual'",
        "UPDATE consent_suppression SET note = 'rewritten'",
        "UPDATE consent_suppression SET phone = '+14155550000'",
        "UPDATE consent_suppression SET created_at = now() - interval '1 year'",
        "UPDATE consent_suppression SET program_id = {program}",
        # A lift that also rewrites something else, and a second lift.
        "UPDATE consent_suppression SET lifted_at = now(), lift_note = 'x', reason = 'manual'",
        "UPDATE consent_suppression SET lifted_at = now(), lift_note = 'again' WHERE id = {lifted}",
    ],
)
def test_it_refuses_raw_sql_on_postgresql(suppression, sql):
    program = create_program()
    lifted = services.suppression_add(phone="+14155552673", reason="manual")
    services.suppression_lift(suppression=lifted, by=None, note="first")
    before = list(Suppression.objects.order_by("id").values())

    with (
        pytest.raises(DatabaseError, match="suppression"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql.format(program=program.pk, lifted=lifted.pk))

    assert list(Suppression.objects.order_by("id").values()) == before


@pytest.mark.postgres
def test_it_lets_raw_sql_lift_once_or_blank_the_number_on_postgresql(suppression):
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE consent_suppression SET lifted_at = now(), lift_note = 'by SQL' WHERE id = %s",
            [suppression.pk],
        )
        cursor.execute(
            "UPDATE consent_suppression SET phone = NULL WHERE id = %s", [suppression.pk]
        )
    stored = Suppression.objects.get(pk=suppression.pk)
    assert (stored.lift_note, stored.phone, stored.reason) == ("by SQL", None, "complaint")
