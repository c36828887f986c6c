"""Plain-SQL helpers for the few statements on the hottest paths (a STOP, the consent writes).

Why not the ORM there: on this 2-core machine an ORM statement costs 0.2-0.35 ms of Python
(query compilation, model instances), the same statement through a cursor 0.02 ms, and a STOP
makes a dozen (bench/bench_inbound.py, whose goal is 500 requests/s). Statements are built from
the models' own metadata (table and column names, quoted) and cached; every value is a
parameter, adapted by the model field itself (`get_db_prep_save`), so datetimes and JSON are
stored exactly as the ORM stores them, on PostgreSQL and SQLite alike.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from django.db import connection, models

from .models import ConsentState, Contact, Suppression


def loaded(instance: models.Model) -> models.Model:
    """Mark an instance built from known values as a row that exists (not to be inserted)."""
    instance._state.adding = False
    instance._state.db = connection.alias
    return instance


def insert(
    model: type[models.Model], rows: list[dict[str, Any]], *, returning: bool = True
) -> list[int]:
    """INSERT `rows` (dicts with the same field names) in one statement; their ids if asked."""
    names = tuple(rows[0])
    sql, adapted = _insert_sql(model, names, len(rows), returning)
    params = prepared(adapted, names, rows)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()] if returning else []


def prepared(
    adapted: tuple[models.Field | None, ...], names: tuple[str, ...], rows: list[dict[str, Any]]
) -> list[Any]:
    """The rows' values, flattened in column order, each adapted by its field where needed."""
    return [
        field.get_db_prep_save(row[name], connection) if field else row[name]
        for row in rows
        for field, name in zip(adapted, names, strict=True)
    ]


# Only these need the field's own adaptation; strings and numbers go to the driver as they are.
_ADAPTED = (models.DateTimeField, models.JSONField)


def columns(model: type[models.Model], names: tuple[str, ...]) -> tuple[str, tuple]:
    """Quoted column list for `names`, and per column the field adapting its values (or None)."""
    quote = connection.ops.quote_name
    fields = [model._meta.get_field(name) for name in names]
    adapted = tuple(f if isinstance(f, _ADAPTED) else None for f in fields)
    return ", ".join(quote(field.column) for field in fields), adapted


def values_marks(width: int, count: int) -> str:
    row = "(" + ", ".join(["%s"] * width) + ")"
    return ", ".join([row] * count)


@lru_cache(maxsize=64)
def _insert_sql(
    model: type[models.Model], names: tuple[str, ...], count: int, returning: bool
) -> tuple[str, tuple[models.Field | None, ...]]:
    """The statement, and per column the field that adapts its values (None: as they are)."""
    quote = connection.ops.quote_name
    opts = model._meta
    column_list, adapted = columns(model, names)
    marks = values_marks(len(names), count)
    # Identifiers come from the model, quoted; every value is a parameter.
    sql = f"INSERT INTO {quote(opts.db_table)} ({column_list}) VALUES {marks}"  # noqa: S608
    if returning:
        sql += f" RETURNING {quote(opts.pk.column)}"
    return sql, adapted


# --- The consent app's own statements ----------------------------------------------------------
# Each is the SQL of a rule written once with the ORM, for the one hot path where building the
# query costs more than running it; tests/consent/test_sql_statements.py holds each equal to it.


def _quoted(model: type[models.Model], *names: str) -> tuple[str, ...]:
    quote = connection.ops.quote_name
    return tuple(quote(model._meta.get_field(name).column) for name in names)


@lru_cache(maxsize=1)
def suppressed_sql() -> str:
    """`Suppression.objects.suppressing(hash, program, at).exists()` as an SQL expression.

    Parameters, in order: the phone hash, the program id, the moment twice.
    """
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
