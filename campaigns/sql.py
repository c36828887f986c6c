"""The campaigns app's hand-built statements: fan-out's set-based INSERT ... SELECT and the
launch summary's reads of the same SELECT. Nothing else in this app writes SQL by hand.

Each wraps the ORM's own SELECT (`fanout.fanout_queryset`, compiled) and adds what the ORM
cannot say in one statement: an INSERT from a SELECT, and the gate's verdict computed once per
row over the inner row's columns (`verdict_sql`, held equal to `fanout.verdict_expression` by
tests/campaigns/test_fanout_sql.py). Identifiers are quoted; every value is a parameter.
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models import QuerySet

from consent.models import ConsentStatus
from messaging.models import BlockReason, MessageStatus, OutboundMessage

#: The inner row's columns the verdict reads.
VERDICT_COLUMNS = ("m_cstate", "m_suppressed", "m_frequency", "m_missing")


def verdict_sql() -> tuple[str, list[Any]]:
    """The row's block reason ('' = eligible) over the inner row `sub`, and its parameters."""
    qn = connection.ops.quote_name
    cstate, suppressed, frequency, missing = (f"sub.{qn(c)}" for c in VERDICT_COLUMNS)
    statement = (
        f"CASE WHEN {suppressed} THEN %s WHEN {cstate} = %s THEN %s "
        f"WHEN {cstate} = %s THEN %s WHEN {cstate} IS NULL THEN %s "
        f"WHEN {frequency} THEN %s WHEN {missing} THEN %s ELSE '' END"
    )
    params = [
        BlockReason.SUPPRESSED.value,
        ConsentStatus.OPTED_OUT.value,
        BlockReason.OPTED_OUT.value,
        ConsentStatus.PENDING.value,
        BlockReason.PENDING_CONFIRMATION.value,
        BlockReason.NO_CONSENT.value,
        BlockReason.FREQUENCY_PREFERENCE.value,
        BlockReason.MISSING_TOKEN.value,
    ]
    return statement, params


def insert_messages(
    select: QuerySet,
    columns: list[tuple[str, str]],
    constants: dict[str, Any],
) -> list[tuple[int, int]]:
    """INSERT one outbound message per row of `select`, queued or blocked with its reason;
    returns (contact id, message id) per row written.

    `select` is a `values_list` of the aliases in `columns` (column name, alias) followed by
    `VERDICT_COLUMNS`; `constants` are columns every row gets the same value for.
    """
    qn = connection.ops.quote_name
    opts = OutboundMessage._meta
    inner, inner_params = select.query.sql_with_params()
    verdict, verdict_params = verdict_sql()
    fixed = list(constants.items())
    names = [qn(column) for column, _ in columns]
    outer = [f"sub.{qn(alias)}" for _, alias in columns]
    names += [qn(opts.get_field(f).column) for f in ("reason", "status")]
    names += [qn(c) for c, _ in fixed]
    # Identifiers come from the model or are quoted aliases; every value is a parameter.
    statement = (
        f"INSERT INTO {qn(opts.db_table)} ({', '.join(names)}) "  # noqa: S608
        f"SELECT {', '.join(outer)}, {verdict}, "
        f"CASE WHEN ({verdict}) = '' THEN %s ELSE %s END, "
        f"{', '.join(['%s'] * len(fixed))} "
        f"FROM ({inner}) sub "
        f"RETURNING {qn(opts.get_field('contact').column)}, {qn(opts.pk.column)}"
    )
    statuses = [MessageStatus.QUEUED.value, MessageStatus.BLOCKED.value]
    params = [
        *verdict_params,
        *verdict_params,
        *statuses,
        *(v for _, v in fixed),
        *inner_params,
    ]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The plan's cost makes PostgreSQL JIT-compile it, a fixed 0.25-0.9 s a batch
            # that buys nothing for index probes (docs/performance.md).
            cursor.execute("SET LOCAL jit = off")
        cursor.execute(statement, params)
        return cursor.fetchall()


def row_verdicts(select: QuerySet) -> list[tuple[int, str]]:
    """(contact id, verdict) per row of `select` (id, then `VERDICT_COLUMNS`); '' = eligible."""
    qn = connection.ops.quote_name
    inner, inner_params = select.query.sql_with_params()
    verdict, verdict_params = verdict_sql()
    statement = f"SELECT sub.{qn('id')}, {verdict} FROM ({inner}) sub"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(statement, [*verdict_params, *inner_params])
        return cursor.fetchall()
