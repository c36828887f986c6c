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
    sql, adapted = _insert_sql(model, names, shape(len(rows)), returning)
    params = prepared(adapted, names, rows)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()] if returning else []


def shape(count: int) -> int:
    """What a statement for `count` rows depends on: the count, except for PostgreSQL's
    column arrays, which serve any number of rows (0 stands for "many")."""
    return 0 if count > 1 and connection.vendor == "postgresql" else count


def prepared(
    adapted: tuple[models.Field | None, ...], names: tuple[str, ...], rows: list[dict[str, Any]]
) -> list[Any]:
    """The rows' values in the order `rows_source` takes them, each adapted by its field where
    needed: flattened row by row, or for PostgreSQL's column arrays one list per column."""
    values = [
        [field.get_db_prep_save(row[name], connection) for row in rows]
        if field
        else [row[name] for row in rows]
        for field, name in zip(adapted, names, strict=True)
    ]
    if shape(len(rows)) == 0:
        return values
    return [column[i] for i in range(len(rows)) for column in values]


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


def rows_source(model: type[models.Model], names: tuple[str, ...], count: int) -> str:
    """What an INSERT takes its rows from, for `count` rows (see `shape`) of `names`.

    `VALUES (%s, ...), ...`, or on PostgreSQL for many rows `SELECT * FROM unnest(%s::type[],
    ...)`: one parameter a column, so the statement is short and the same whatever the count
    (the driver parses a statement with thousands of parameters on every call, which cost an
    import as much as the database's own work). Rows come out in the order given.
    """
    if shape(count) != 0:
        return "VALUES " + values_marks(len(names), count)
    types = [model._meta.get_field(name).db_type(connection).split("(")[0] for name in names]
    # The types are the model's own column types; every value is a parameter.
    return "SELECT * FROM unnest(" + ", ".join(f"%s::{t}[]" for t in types) + ")"  # noqa: S608


@lru_cache(maxsize=64)
def _insert_sql(
    model: type[models.Model], names: tuple[str, ...], count: int, returning: bool
) -> tuple[str, tuple[models.Field | None, ...]]:
    """The statement, and per column the field that adapts its values (None: as they are)."""
    quote = connection.ops.quote_name
    opts = model._meta
    column_list, adapted = columns(model, names)
    source = rows_source(model, names, count)
    # Identifiers and types come from the model, quoted; every value is a parameter.
    sql = f"INSERT INTO {quote(opts.db_table)} ({column_list}) {source}"
    if returning:
        sql += f" RETURNING {quote(opts.pk.column)}"
    return sql, adapted
