"""Plain-SQL helpers for the few statements on the hottest paths (a STOP, the consent writes).

Why not the ORM there: on this 2-core machine an ORM statement costs 0.2-0.35 ms of Python
(query compilation, model instances), the same statement through a cursor 0.02 ms, and a STOP
makes a dozen (bench/bench_inbound.py, whose goal is 500 requests/s). Statements are built from
the models' own metadata (table and column names, quoted) and cached; every value is a
parameter, adapted by the model field itself (`get_db_prep_save`), so datetimes and JSON are
stored exactly as the ORM stores them, on PostgreSQL and SQLite alike. Many rows at once on
PostgreSQL travel as one JSON document instead (`rows_source`).
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from typing import Any

from django.db import connection, models


def loaded(instance: models.Model) -> models.Model:
    """Mark an instance built from known values as a row that exists (not to be inserted)."""
    instance._state.adding = False
    instance._state.db = connection.alias
    return instance


def insert(
    model: type[models.Model],
    rows: list[dict[str, Any]],
    *,
    returning: bool = True,
    skip_conflicts: bool = False,
) -> list[int]:
    """INSERT `rows` (dicts with the same field names) in one statement; their ids if asked.
    `skip_conflicts`: a row that would break a unique constraint is left out (no ids then)."""
    names = tuple(rows[0])
    sql, adapted = _insert_sql(model, names, shape(len(rows)), returning, skip_conflicts)
    with connection.cursor() as cursor:
        cursor.execute(sql, parameters(model, adapted, names, rows))
        return [row[0] for row in cursor.fetchall()] if returning else []


def shape(count: int) -> int:
    """What a statement for `count` rows depends on: the count, except on PostgreSQL where one
    JSON document serves any number of rows (0 stands for "many", see `rows_source`)."""
    return 0 if count > 1 and connection.vendor == "postgresql" else count


def parameters(
    model: type[models.Model],
    adapted: tuple[models.Field | None, ...],
    names: tuple[str, ...],
    rows: list[dict[str, Any]],
) -> list[Any]:
    """The parameters of `rows_source(model, names, len(rows))` for `rows`."""
    if shape(len(rows)) != 0:
        return prepared(adapted, names, rows)
    keys = [model._meta.get_field(name).column for name in names]
    document = [dict(zip(keys, (row[name] for name in names), strict=True)) for row in rows]
    return [json.dumps(document, default=_json_value, ensure_ascii=False)]


def _json_value(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()  # to the microsecond, with its offset
    raise TypeError(f"{type(value).__name__} cannot be written as a JSON row")


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


def rows_source(model: type[models.Model], names: tuple[str, ...], count: int) -> str:
    """What an INSERT takes its rows from, for `count` rows (see `shape`) of `names`.

    `VALUES (%s, ...), ...`, or on PostgreSQL for many rows one JSON document read as rows of
    the table (`json_populate_recordset`): one parameter, so the statement is short and the
    same whatever the count, and the values are encoded in one C call. (With a parameter per
    value the driver parsed a statement with thousands of them, and quoted each value, in
    Python on every call: that cost an import as much as the database's own work.) Rows come
    out in the order given; the database converts each value to its column's type.
    """
    if shape(count) != 0:
        return "VALUES " + values_marks(len(names), count)
    column_list, _ = columns(model, names)
    table = connection.ops.quote_name(model._meta.db_table)
    # Identifiers come from the model, quoted; the rows are the one parameter.
    return f"SELECT {column_list} FROM json_populate_recordset(NULL::{table}, %s)"  # noqa: S608


@lru_cache(maxsize=64)
def _insert_sql(
    model: type[models.Model],
    names: tuple[str, ...],
    count: int,
    returning: bool,
    skip_conflicts: bool = False,
) -> tuple[str, tuple[models.Field | None, ...]]:
    """The statement, and per column the field that adapts its values (None: as they are)."""
    quote = connection.ops.quote_name
    opts = model._meta
    column_list, adapted = columns(model, names)
    source = rows_source(model, names, count)
    # Identifiers and types come from the model, quoted; every value is a parameter.
    sql = f"INSERT INTO {quote(opts.db_table)} ({column_list}) {source}"
    if skip_conflicts:
        sql += " ON CONFLICT DO NOTHING"
    if returning:
        sql += f" RETURNING {quote(opts.pk.column)}"
    return sql, adapted
