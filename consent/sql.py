"""The consent app's hand-built SQL, all of it: the consent check and dispatch gate, the
ledger's chain head, the contact lock and the state upsert, which run on every STOP and every
message (docs/performance.md#queries-on-hot-paths); with the insert helpers of
`config.lib.sql` that they share.

Statements are built from the models' metadata (table and column names, quoted) and cached;
every value is a parameter, adapted by the model field itself (`get_db_prep_save`), so they
work alike on PostgreSQL and SQLite. Each is held equal to the ORM expression it stands in for
by tests/consent/test_sql_statements.py. Models are found through the app registry, so
`consent.models` may use this module.
"""

from __future__ import annotations

from functools import lru_cache

from django.apps import apps
from django.db import connection, connections, models

# The insert helpers every app's statements share; consent's writers reach them through here.
from config.lib.sql import (  # noqa: F401
    columns,
    insert,
    loaded,
    parameters,
    prepared,
    rows_source,
    shape,
    values_marks,
)
from config.lib.text import CONTROL_CHARACTERS

# --- The consent app's own statements ----------------------------------------------------------
# Each is the SQL of a rule written once with the ORM, for the one hot path where building the
# query costs more than running it; tests/consent/test_sql_statements.py holds each equal to it.


def _model(name: str) -> type[models.Model]:
    return apps.get_model("consent", name)


def _quoted(model: type[models.Model], *names: str) -> tuple[str, ...]:
    quote = connection.ops.quote_name
    return tuple(quote(model._meta.get_field(name).column) for name in names)


@lru_cache(maxsize=1)
def suppressed_sql() -> str:
    """`Suppression.objects.suppressing(hash, program, at).exists()` as an SQL expression.

    Parameters, in order: the phone hash, the program id, the moment twice.
    """
    Suppression = _model("Suppression")
    table = connection.ops.quote_name(Suppression._meta.db_table)
    hashed, program, lifted, created = _quoted(
        Suppression, "phone_hash", "program", "lifted_at", "created_at"
    )
    # Identifiers come from the model, quoted; every value is a parameter.
    return (
        f"EXISTS (SELECT 1 FROM {table} WHERE {hashed} = %s "  # noqa: S608
        f"AND ({program} IS NULL OR {program} = %s) "
        f"AND ({lifted} IS NULL OR {lifted} > %s) AND {created} <= %s)"
    )


@lru_cache(maxsize=1)
def gate_sql() -> str:
    """(consent status of a contact in a program, suppressed at a moment): one round trip.

    Parameters: contact id, program id, then those of `suppressed_sql`.
    """
    quote = connection.ops.quote_name
    ConsentState = _model("ConsentState")
    status, contact, program = _quoted(ConsentState, "status", "contact", "program")
    # Identifiers come from the models, quoted; every value is a parameter.
    return (
        f"SELECT (SELECT {status} FROM {quote(ConsentState._meta.db_table)} "  # noqa: S608
        f"WHERE {contact} = %s AND {program} = %s), {suppressed_sql()}"
    )


@lru_cache(maxsize=1)
def standing_sql() -> str:
    """For a number (which may have no contact): (its state's status in a program, whether
    that state began by a moment, suppressed at that moment).

    Parameters: the moment, then those of `suppressed_sql`, then the number and the program id.
    """
    quote = connection.ops.quote_name
    ConsentState, Contact = _model("ConsentState"), _model("Contact")
    status, since, state_contact, state_program = _quoted(
        ConsentState, "status", "since", "contact", "program"
    )
    (phone,) = _quoted(Contact, "phone")
    pk = quote(Contact._meta.pk.column)
    # Identifiers come from the models, quoted; every value is a parameter.
    return (
        f"SELECT s.{status}, s.{since} <= %s, {suppressed_sql()} "  # noqa: S608
        f"FROM (SELECT %s AS asked_phone) AS asked "
        f"LEFT JOIN {quote(Contact._meta.db_table)} c ON c.{phone} = asked.asked_phone "
        f"LEFT JOIN {quote(ConsentState._meta.db_table)} s "
        f"ON s.{state_contact} = c.{pk} AND s.{state_program} = %s"
    )


@lru_cache(maxsize=1)
def chain_head_sql() -> str:
    """A contact's latest ledger (chain_seq, chain_hash), by one backwards index probe on
    (contact, chain_seq). Parameter: the contact id."""
    ConsentEvent = _model("ConsentEvent")
    quote = connection.ops.quote_name
    contact, seq, digest = _quoted(ConsentEvent, "contact", "chain_seq", "chain_hash")
    # Identifiers come from the model, quoted; the id is a parameter.
    return (
        f"SELECT {seq}, {digest} FROM {quote(ConsentEvent._meta.db_table)} "  # noqa: S608
        f"WHERE {contact} = %s ORDER BY {seq} DESC LIMIT 1"
    )


@lru_cache(maxsize=2)
def contact_lock_sql(for_update: bool) -> str:
    """A contact's (phone, erased), locking its row where the database can. Parameter: the id."""
    Contact = _model("Contact")
    quote = connection.ops.quote_name
    phone, erased = _quoted(Contact, "phone", "erased_at")
    # Identifiers come from the model, quoted; the id is a parameter.
    return (
        f"SELECT {phone}, {erased} IS NOT NULL FROM {quote(Contact._meta.db_table)} "  # noqa: S608
        f"WHERE {quote(Contact._meta.pk.column)} = %s" + (" FOR UPDATE" if for_update else "")
    )


#: The consent state columns `state_upsert_sql` writes, in order.
STATE_COLUMNS = (
    "contact_id",
    "program_id",
    "status",
    "last_event_id",
    "since",
    "opted_in_at",
    "opted_out_at",
    "updated_at",
)


@lru_cache(maxsize=16)
def state_upsert_sql(count: int) -> tuple[str, tuple]:
    """One upsert of `count` consent states (values in `STATE_COLUMNS` order; `count` as
    `shape` gives it, parameters as `parameters` builds them), and per column the field
    adapting its values. An existing state is replaced only by an event at least as
    recent (by `since`, then event id); `opted_in_at` keeps the start of the current run of
    being opted in, `opted_out_at` the latest opt-out."""
    ConsentState = _model("ConsentState")
    opted_in, opted_out = ConsentState.Status.OPTED_IN.value, ConsentState.Status.OPTED_OUT.value
    quote = connection.ops.quote_name
    table = quote(ConsentState._meta.db_table)
    column_list, adapted = columns(ConsentState, STATE_COLUMNS)
    col = {name: quote(ConsentState._meta.get_field(name).column) for name in STATE_COLUMNS}
    # Identifiers come from the model, quoted; the statuses are the model's own choices;
    # every value is a parameter.
    statement = (
        f"INSERT INTO {table} ({column_list}) {rows_source(ConsentState, STATE_COLUMNS, count)} "
        f"ON CONFLICT ({col['contact_id']}, {col['program_id']}) DO UPDATE SET "
        f"{col['status']} = excluded.{col['status']}, "
        f"{col['last_event_id']} = excluded.{col['last_event_id']}, "
        f"{col['since']} = excluded.{col['since']}, "
        f"{col['updated_at']} = excluded.{col['updated_at']}, "
        f"{col['opted_in_at']} = CASE WHEN excluded.{col['status']} <> '{opted_in}' "
        f"THEN {table}.{col['opted_in_at']} "
        f"WHEN {table}.{col['status']} = '{opted_in}' AND {table}.{col['opted_in_at']} IS NOT NULL "
        f"THEN {table}.{col['opted_in_at']} ELSE excluded.{col['since']} END, "
        f"{col['opted_out_at']} = CASE WHEN excluded.{col['status']} = '{opted_out}' "
        f"THEN excluded.{col['since']} ELSE {table}.{col['opted_out_at']} END "
        # A back-dated event (an old import) never overrides a newer one.
        f"WHERE {table}.{col['since']} < excluded.{col['since']} "
        f"OR ({table}.{col['since']} = excluded.{col['since']} "
        f"AND {table}.{col['last_event_id']} <= excluded.{col['last_event_id']})"
    )
    return statement, adapted


def defer_state_check() -> None:
    """Until commit, let consent states pass through a batch's earlier events (PostgreSQL: the
    state-follows-ledger constraint is deferrable, consent migration 0013)."""
    name = connection.ops.quote_name("consent_state_follows_ledger")
    with connection.cursor() as cursor:
        cursor.execute(f"SET CONSTRAINTS {name} DEFERRED")


# CONTROL_CHARACTERS as a PostgreSQL string (octal escapes; its text never holds NUL).
_SQL_CONTROL_CHARACTERS = "E'" + "".join(f"\\{ord(c):03o}" for c in CONTROL_CHARACTERS[1:]) + "'"
#: Column kinds `copy_csv_sql` formats: text (trimmed, formula-escaped) and times (UTC, ISO).
TEXT, TIME = "text", "time"


def _csv_value(kind: str, name: str) -> str:
    if kind == TIME:
        return f"""to_char({name} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')"""
    if kind != TEXT:
        return name
    # `escape_formula` in SQL. = + - @ TAB LF CR are code points 61 43 45 64 9 10 13: ascii()
    # is the cheapest test of a first character.
    return (
        f"CASE WHEN ascii({name}) IN (61, 43, 45, 64, 9, 10, 13) "
        f"AND {name} !~ '^\\+[1-9][0-9]{{6,14}}$' THEN '''' || {name} ELSE {name} END"
    )


def copy_csv_sql(rows: models.QuerySet, columns: list[tuple[str, str, str]]) -> str:
    """``COPY (SELECT ...) TO STDOUT`` writing `rows` as CSV with a header, escaped in SQL the
    way the row-by-row export escapes in Python. `columns`: (alias in `rows`, CSV header, kind).
    PostgreSQL only; tests/consent/test_consent_export.py holds it equal to the Python path."""
    db = connections[rows.db]
    quote = db.ops.quote_name
    inner_sql, params = rows.query.get_compiler(using=rows.db).as_sql()
    # COPY takes no bind parameters: psycopg quotes them into the statement.
    inner = db.ops.compose_sql(inner_sql, params)
    names = [quote(alias) for alias, _, _ in columns]
    # Leading control characters go first, in a subquery of their own (OFFSET 0 keeps the
    # planner from folding it into the outer SELECT, which would trim each value once per use).
    cleaned = ", ".join(
        f"ltrim({name}, {_SQL_CONTROL_CHARACTERS}) AS {name}" if kind == TEXT else name
        for (_, _, kind), name in zip(columns, names, strict=True)
    )
    outer = ", ".join(
        f"{_csv_value(kind, name)} AS {quote(header)}"
        for (_, header, kind), name in zip(columns, names, strict=True)
    )
    # Safe to interpolate: `inner` is the ORM's SQL with values quoted by psycopg, and the
    # identifiers are quoted.
    return (
        f"COPY (SELECT {outer} FROM (SELECT {cleaned} FROM ({inner}) AS export "  # noqa: S608
        "OFFSET 0) AS cleaned) TO STDOUT WITH (FORMAT csv, HEADER)"
    )
