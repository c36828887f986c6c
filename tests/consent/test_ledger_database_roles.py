"""TRUNCATE guards on the ledger, and a deployment with two database roles: the owner runs
migrations; the application role may only append to and read the ledger, confirmations,
suppressions and roots (and lift a suppression), so even a compromised app cannot rewrite
history. PostgreSQL only; the roles are created inside the test's transaction."""

import uuid

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from consent import services
from consent.management.commands.db_grants import grant_statements
from consent.models import ConsentConfirmation, ConsentEvent, Suppression
from tests.factories import create_contact, create_program, opt_in

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

LEDGER_TABLES = [
    "consent_consentevent",
    "consent_consentconfirmation",
    "consent_suppression",
    "consent_ledgerroot",
]


def refused(sql: str, params=None, match: str = "") -> None:
    with (
        pytest.raises(DatabaseError, match=match),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, params)


@pytest.fixture
def ledger():
    contact = create_contact()
    event = opt_in(contact, create_program())
    ConsentConfirmation.objects.create(event=event, message_ref="SM1")
    services.suppression_add(phone=contact.phone, reason="complaint")
    call_command("ledger_root", "--date", "2020-01-01")  # a root row (of an empty day)
    return event


@pytest.mark.parametrize("table", LEDGER_TABLES)
def test_it_refuses_truncate_of_the_ledger(ledger, table):
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no deferred checks pending: TRUNCATE
        # The suite's own flushes are allowed to truncate (tests/conftest.py); production is not.
        cursor.execute("SET consent.allow_truncate = off")
    try:
        refused(f"TRUNCATE {table} CASCADE", match="cannot be truncated")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET consent.allow_truncate = on")
    assert ConsentEvent.objects.count() == 1
    assert Suppression.objects.count() == 1


@pytest.fixture
def roles(ledger):
    """An owner role that owns every table and the trigger functions (as if it had run the
    migrations), and an application role with what `manage.py db_grants` grants it."""
    suffix = uuid.uuid4().hex[:8]
    owner, app = f"t_owner_{suffix}", f"t_app_{suffix}"
    quote = connection.ops.quote_name
    tables = connection.introspection.django_table_names(only_existing=True)
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no deferred checks pending: ALTER
        cursor.execute(f"CREATE ROLE {owner} NOLOGIN")
        cursor.execute(f"CREATE ROLE {app} NOLOGIN")
        for table in [*tables, "django_migrations"]:
            cursor.execute(f"ALTER TABLE {quote(table)} OWNER TO {owner}")
        cursor.execute(
            "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n "
            "ON n.oid = p.pronamespace WHERE n.nspname = 'public' AND p.proname LIKE 'consent_%%'"
        )
        for (function,) in cursor.fetchall():
            cursor.execute(f"ALTER FUNCTION {function} OWNER TO {owner}")
        cursor.execute(f"SET ROLE {owner}")
        for statement in grant_statements(app):
            cursor.execute(statement)
        cursor.execute("RESET ROLE")
    yield owner, app
    with connection.cursor() as cursor:
        cursor.execute("RESET ROLE")


def as_role(role: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"SET ROLE {role}")


def test_it_lets_the_app_role_run_the_consent_services(roles, ledger):
    _, app = roles
    as_role(app)

    program = create_program("alerts")
    contact = create_contact()
    opt_in(contact, program)
    services.consent_revoke(contact=contact, revoke_all=True, method="keyword", source="STOP")
    suppression = Suppression.objects.get(phone=contact.phone)
    assert services.suppression_lift(suppression=suppression, by=None, note="asked to rejoin")
    services.contact_erase(contact=contact)

    assert ConsentEvent.objects.filter(contact=contact).count() == 2
    assert Suppression.objects.get(pk=suppression.pk).phone is None


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE consent_consentevent SET note = 'rewritten'",
        "DELETE FROM consent_consentevent",
        "TRUNCATE consent_consentevent CASCADE",
        "DELETE FROM consent_consentconfirmation",
        "UPDATE consent_consentconfirmation SET message_ref = 'x'",
        "DELETE FROM consent_suppression",
        "UPDATE consent_suppression SET reason = 'manual'",
        "TRUNCATE consent_suppression CASCADE",
        "UPDATE consent_ledgerroot SET root_hash = 'x'",
        "DELETE FROM consent_ledgerroot",
        "ALTER TABLE consent_consentevent DISABLE TRIGGER consent_event_append_only",
        "DROP TRIGGER consent_event_append_only ON consent_consentevent",
        "CREATE OR REPLACE FUNCTION consent_ledger_append_only() RETURNS trigger AS "
        "$$ BEGIN RETURN NEW; END; $$ LANGUAGE plpgsql",
        "ALTER TABLE consent_consentevent OWNER TO CURRENT_USER",
        "UPDATE django_migrations SET name = name",
    ],
)
def test_it_refuses_the_app_role_any_rewrite_of_history(roles, ledger, sql):
    _, app = roles
    as_role(app)

    refused(sql, match=r"permission denied|must be owner")

    with connection.cursor() as cursor:
        cursor.execute("RESET ROLE")
    ledger.refresh_from_db()
    assert ledger.note == ""
    assert ConsentEvent.objects.count() == Suppression.objects.count() == 1


def test_it_refuses_the_owner_role_a_truncate_too(roles, ledger):
    owner, _ = roles
    as_role(owner)
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET consent.allow_truncate = off")
    try:
        refused("TRUNCATE consent_consentevent CASCADE", match="cannot be truncated")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET consent.allow_truncate = on")
    as_role(owner)
    refused("UPDATE consent_consentevent SET note = 'x'", match="append-only")


def test_it_prints_the_grants_for_the_docs(capsys):
    call_command("db_grants", "sms_app")
    out = capsys.readouterr().out
    assert 'GRANT SELECT, INSERT ON "consent_consentevent" TO "sms_app";' in out
    assert (
        'GRANT UPDATE ("lifted_at", "lifted_by_id", "lift_note", "phone") ON '
        '"consent_suppression" TO "sms_app";'
    ) in out
