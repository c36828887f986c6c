"""The consent ledger cannot be changed or deleted, by any path."""

import pytest
from django.db import DatabaseError, connection, transaction

from consent.models import ConsentEvent, Disclosure, LedgerImmutableError
from tests.factories import create_contact, create_program, opt_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def event():
    return opt_in(create_contact(), create_program())


def test_it_refuses_save_on_an_existing_row(event):
    event.note = "rewritten"
    with pytest.raises(LedgerImmutableError):
        event.save()
    event.refresh_from_db()
    assert event.note == ""


def test_it_refuses_delete_on_a_row(event):
    with pytest.raises(LedgerImmutableError):
        event.delete()
    assert ConsentEvent.objects.filter(pk=event.pk).exists()


def test_it_refuses_queryset_update(event):
    with pytest.raises(LedgerImmutableError):
        ConsentEvent.objects.filter(pk=event.pk).update(method="paper")
    event.refresh_from_db()
    assert event.method == "web_form"


def test_it_refuses_queryset_delete(event):
    with pytest.raises(LedgerImmutableError):
        ConsentEvent.objects.all().delete()
    assert ConsentEvent.objects.count() == 1


def test_it_refuses_bulk_update(event):
    event.note = "x"
    with pytest.raises(LedgerImmutableError):
        ConsentEvent.objects.bulk_update([event], ["note"])


def test_it_refuses_deleting_the_contact_or_program_behind_a_record(event):
    from django.db.models import ProtectedError

    with pytest.raises(ProtectedError):
        event.contact.delete()
    with pytest.raises(ProtectedError):
        event.program.delete()


def test_it_freezes_a_disclosure_once_a_consent_references_it(event):
    disclosure = event.disclosure
    assert disclosure is not None
    disclosure.text = "Something else entirely"
    with pytest.raises(LedgerImmutableError):
        disclosure.save()
    with pytest.raises(LedgerImmutableError):
        Disclosure.objects.get(pk=disclosure.pk).delete()


def test_it_lets_an_unreferenced_disclosure_be_corrected():
    program = create_program()
    disclosure = program.disclosures.get()
    disclosure.text = "Corrected before anyone saw it."
    disclosure.save()
    disclosure.refresh_from_db()
    assert disclosure.text == "Corrected before anyone saw it."


@pytest.mark.postgres
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE consent_consentevent SET note = 'rewritten'",
        "UPDATE consent_consentevent SET kind = 'opt_out', resulting_status = 'opted_out'",
        "DELETE FROM consent_consentevent",
        "UPDATE consent_disclosure SET text = 'changed'",
        "DELETE FROM consent_disclosure",
    ],
)
def test_it_refuses_raw_sql_on_postgresql(event, sql):
    with (
        pytest.raises(DatabaseError, match=r"append-only|frozen"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql)
    event.refresh_from_db()
    assert event.note == ""
    assert event.kind == "opt_in"
    assert ConsentEvent.objects.count() == 1
