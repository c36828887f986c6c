"""The messaging app's hand-built SQL, all of it: statements on the paths every message or
every STOP takes, where building the ORM query costs more than running it
(docs/performance.md#queries-on-hot-paths).

Built from the models' metadata with every identifier quoted, cached, every value a parameter.
Each is held equal to the ORM expression it stands in for by tests/messaging/test_sql_statements.py.
"""

from __future__ import annotations

from functools import lru_cache

from django.db import connection, models

from config.lib.sql import columns, values_marks
from consent.models import Contact

from .models import (
    Click,
    DailyCount,
    HoldReason,
    MessageEvent,
    OutboundMessage,
    TrackedLink,
    WebhookSubscription,
)


def _columns(model: type[models.Model], *names: str) -> tuple[str, ...]:
    quote = connection.ops.quote_name
    return tuple(quote(model._meta.get_field(name).column) for name in names)


@lru_cache(maxsize=1)
def contact_id_sql() -> str:
    """The id of the contact with a number. Parameter: the number (E.164)."""
    quote = connection.ops.quote_name
    opts = Contact._meta
    (phone,) = _columns(Contact, "phone")
    # Identifiers come from the model, quoted; the number is a parameter.
    return f"SELECT {quote(opts.pk.column)} FROM {quote(opts.db_table)} WHERE {phone} = %s"  # noqa: S608


@lru_cache(maxsize=16)
def reply_with_event_sql(message_names: tuple[str, ...], event_names: tuple[str, ...]):
    """An outbound message and its first event in one PostgreSQL statement (a data-modifying
    CTE), returning the message id; and per column the fields adapting the values.

    Parameters: the message's values in `message_names` order, then the event's."""
    quote = connection.ops.quote_name
    message_columns, message_fields = columns(OutboundMessage, message_names)
    event_columns, event_fields = columns(MessageEvent, event_names)
    message_id = quote(OutboundMessage._meta.pk.column)
    (event_message,) = _columns(MessageEvent, "message")
    marks = ", ".join(["%s"] * len(event_names))
    # Identifiers come from the models, quoted; every value is a parameter.
    statement = (
        f"WITH m AS (INSERT INTO {quote(OutboundMessage._meta.db_table)} ({message_columns}) "  # noqa: S608
        f"VALUES {values_marks(len(message_names), 1)} RETURNING {message_id} AS id), "
        f"e AS (INSERT INTO {quote(MessageEvent._meta.db_table)} ({event_message}, "
        f"{event_columns}) SELECT m.id, {marks} FROM m)"
    )
    return f"{statement} SELECT id FROM m", message_fields, event_fields  # noqa: S608


@lru_cache(maxsize=16)
def cancel_waiting_sql(programs: int, statuses: int, exempt_reasons: int) -> str:
    """Cancel one contact's waiting messages, returning their ids.

    Parameters: the new status and reason; the contact id; the `statuses` waiting statuses;
    `programs` program ids (0: every program); the reply kind and its `exempt_reasons` reasons,
    which are left alone (a STOP confirmation on its way is the answer, not a casualty).
    """
    quote = connection.ops.quote_name
    opts = OutboundMessage._meta
    status, reason, contact, program, kind = _columns(
        OutboundMessage, "status", "reason", "contact", "program", "kind"
    )
    marks = ", ".join(["%s"] * statuses)
    only = f" AND {program} IN ({', '.join(['%s'] * programs)})" if programs else ""
    exempt = ", ".join(["%s"] * exempt_reasons)
    # Identifiers come from the model, quoted; every value is a parameter.
    return (
        f"UPDATE {quote(opts.db_table)} SET {status} = %s, {reason} = %s "  # noqa: S608
        f"WHERE {contact} = %s AND {status} IN ({marks}){only} "
        f"AND NOT ({kind} = %s AND {reason} IN ({exempt})) RETURNING {quote(opts.pk.column)}"
    )


@lru_cache(maxsize=4)
def sent_update_sql(names: tuple[str, ...]) -> str:
    """Record one handed-over message as sent, if its lease is still ours (run for many rows
    with `executemany`, which psycopg pipelines).

    Parameters: the sent status; the hold reasons (a hold's reason is over once the message
    goes, any other reason stays); the values of `names`; the id, the sending status and the
    lease the row must still have.
    """
    quote = connection.ops.quote_name
    opts = OutboundMessage._meta
    status, reason, lease = _columns(OutboundMessage, "status", "reason", "lease_expires_at")
    assignments = ", ".join(f"{column} = %s" for column in _columns(OutboundMessage, *names))
    holds = ", ".join(["%s"] * len(HoldReason.values))
    # Identifiers come from the model, quoted; every value is a parameter.
    return (
        f"UPDATE {quote(opts.db_table)} SET {status} = %s, "  # noqa: S608
        f"{reason} = CASE WHEN {reason} IN ({holds}) THEN '' ELSE {reason} END, "
        f"{lease} = NULL, {assignments} "
        f"WHERE {quote(opts.pk.column)} = %s AND {status} = %s AND {lease} = %s"
    )


@lru_cache(maxsize=1)
def enabled_subscriptions_sql() -> str:
    """(id, event types) of every enabled partner webhook subscription. Runs in every consent
    change, inbound STOPs included, where the ORM's query costs ~3x this one."""
    quote = connection.ops.quote_name
    opts = WebhookSubscription._meta
    events, active, disabled = _columns(WebhookSubscription, "events", "active", "disabled_at")
    # Identifiers come from the model, quoted; the flag is a parameter.
    return (
        f"SELECT {quote(opts.pk.column)}, {events} FROM {quote(opts.db_table)} "  # noqa: S608
        f"WHERE {active} = %s AND {disabled} IS NULL"
    )


@lru_cache(maxsize=8)
def opt_out_attribution_sql(programs: int, scopes: tuple[tuple[str, str], ...]) -> str:
    """Count one opt-out against the last message of each of `programs` programs handed off
    to a person in a window (PostgreSQL: DISTINCT ON), as daily counter rows for each of
    `scopes` ((scope, message field) pairs), on the UTC day the message was sent.

    Parameters: the metric; the contact id; the `programs` program ids; the window's end and
    start. tests/messaging/test_daily_counters.py holds what it counts equal to the counters'
    rebuild from the raw tables.
    """
    quote = connection.ops.quote_name
    opts, counts = OutboundMessage._meta, DailyCount._meta
    contact, program, sent_at = _columns(OutboundMessage, "contact", "program", "sent_at")
    fields = [f for _, f in scopes]
    wanted = ", ".join(f"{quote(opts.get_field(f).column)} AS {quote(f)}" for f in fields)
    pairs = ", ".join(f"(%s, m.{quote(f)})" for f in fields)
    target = ", ".join(
        _columns(DailyCount, "day", "scope", "key", "metric", "count", "is_squashed")
    )
    marks = ", ".join(["%s"] * programs)
    # Identifiers come from the models, quoted; every value is a parameter.
    return (
        f"INSERT INTO {quote(counts.db_table)} ({target}) "  # noqa: S608
        f"SELECT (m.{sent_at} AT TIME ZONE 'UTC')::date, d.scope, d.key, %s, 1, false FROM ("
        f"SELECT DISTINCT ON ({program}) {sent_at}, {wanted} FROM {quote(opts.db_table)} "
        f"WHERE {contact} = %s AND {program} IN ({marks}) AND {sent_at} <= %s "
        f"AND {sent_at} > %s ORDER BY {program}, {sent_at} DESC, {quote(opts.pk.column)} DESC"
        f") m CROSS JOIN LATERAL (VALUES {pairs}) AS d(scope, key) WHERE d.key IS NOT NULL"
    )


@lru_cache(maxsize=1)
def counters_squash_sql() -> str:
    """Fold the unsquashed daily counter rows of up to N keys (day, scope, key, metric) into
    each key's one squashed row; the row count is the keys folded. Parameter: N.
    The ORM path in `counters.squash` does the same on other databases."""
    quote = connection.ops.quote_name
    table = quote(DailyCount._meta.db_table)
    day, scope, key, metric, count, squashed = _columns(
        DailyCount, "day", "scope", "key", "metric", "count", "is_squashed"
    )
    keys = f"{day}, {scope}, {key}, {metric}"
    same = " AND ".join(f"t.{c} = picked.{c}" for c in (day, scope, key, metric))
    # Identifiers come from the model, quoted; the limit is a parameter.
    return (
        f"WITH picked AS (SELECT DISTINCT {keys} FROM {table} "  # noqa: S608
        f"WHERE NOT {squashed} LIMIT %s), "
        f"removed AS (DELETE FROM {table} t USING picked WHERE {same} "
        f"RETURNING t.{day}, t.{scope}, t.{key}, t.{metric}, t.{count}) "
        f"INSERT INTO {table} ({keys}, {count}, {squashed}) "
        f"SELECT {keys}, SUM({count}), TRUE FROM removed GROUP BY {keys} "
        f"ON CONFLICT ({keys}) WHERE {squashed} "
        f"DO UPDATE SET {count} = {table}.{count} + EXCLUDED.{count}"
    )


#: Set in the click statement when clicks may commit without waiting for their WAL flush.
_ASYNC_COMMIT = "CROSS JOIN (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit"


@lru_cache(maxsize=2)
def click_record_sql(async_commit: bool, scopes: tuple[tuple[str, str], ...]) -> str:
    """Look up a short link's message and link, store the click with its bot label, count it in
    the daily counters (a row per scope of `scopes`, (scope, message field) pairs, on the UTC
    day the message was sent), and answer (destination, utm, utm_campaign, utm_content, click
    id, contact, campaign, variant, flow, seconds since delivery, bot reason); no row for a
    code of no message or link we sent. One statement: the redirect is the hottest public path.

    Named parameters: link, message, oldest (messages made before are expired), at, ip, ua,
    reason (a label already known, or ''), too_soon and repeat (moments for the time rules),
    too_soon_label and repeated_label (their `BotReason` values), human_metric and bot_metric
    (the counters' names), scope_0, scope_1, ... (the names in `scopes`).
    PostgreSQL; `links._record_orm` is the same through the ORM (tests hold the two equal).
    """
    quote = connection.ops.quote_name
    m = {
        f: quote(OutboundMessage._meta.get_field(f).column)
        for f in (
            "id",
            "contact",
            "campaign",
            "variant",
            "program",
            "delivered_at",
            "sent_at",
            "created_at",
        )
    }
    link = {
        f: quote(TrackedLink._meta.get_field(f).column)
        for f in ("id", "flow", "destination", "utm", "utm_campaign", "utm_content", "program")
    }
    c = {
        f: quote(Click._meta.get_field(f).column)
        for f in (
            "id",
            "link",
            "message",
            "contact",
            "campaign",
            "variant",
            "flow",
            "clicked_at",
            "seconds_since_delivery",
            "ip",
            "user_agent",
            "bot_reason",
        )
    }
    messages = quote(OutboundMessage._meta.db_table)
    links = quote(TrackedLink._meta.db_table)
    clicks = quote(Click._meta.db_table)
    written = ", ".join(column for field, column in c.items() if field != "id")
    returned = ", ".join(
        c[f]
        for f in (
            "id",
            "contact",
            "campaign",
            "variant",
            "flow",
            "seconds_since_delivery",
            "bot_reason",
        )
    )
    dims = ", ".join(
        f"m.{quote(OutboundMessage._meta.get_field(f).column)} AS dim_{i}"
        for i, (_, f) in enumerate(scopes)
    )
    pairs = ", ".join(f"(%(scope_{i})s, src.dim_{i})" for i in range(len(scopes)))
    target = ", ".join(
        _columns(DailyCount, "day", "scope", "key", "metric", "count", "is_squashed")
    )
    counted = (
        f"counted AS (INSERT INTO {quote(DailyCount._meta.db_table)} ({target}) "  # noqa: S608
        "SELECT (COALESCE(src.sent_at, now()) AT TIME ZONE 'UTC')::date, d.scope, d.key, "
        f"CASE WHEN ins.{c['bot_reason']} = '' THEN %(human_metric)s ELSE %(bot_metric)s END, "
        f"1, false FROM src CROSS JOIN ins CROSS JOIN LATERAL (VALUES {pairs}) AS d(scope, key) "
        "WHERE d.key IS NOT NULL)"
    )
    # Identifiers come from the models, quoted; every value is a parameter.
    return (
        "WITH src AS ("  # noqa: S608
        f"SELECT {dims}, m.{m['sent_at']} AS sent_at, "
        f"m.{m['id']} AS message_id, m.{m['contact']} AS contact_id, "
        f"m.{m['campaign']} AS campaign_id, m.{m['variant']} AS variant_id, "
        f"l.{link['id']} AS link_id, l.{link['flow']} AS flow_id, "
        f"l.{link['destination']} AS destination, l.{link['utm']} AS utm, "
        f"l.{link['utm_campaign']} AS utm_campaign, l.{link['utm_content']} AS utm_content, "
        f"COALESCE(m.{m['delivered_at']}, m.{m['sent_at']}) AS delivered_at "
        f"FROM {messages} m JOIN {links} l "
        f"ON l.{link['id']} = %(link)s AND l.{link['program']} = m.{m['program']} "
        f"{_ASYNC_COMMIT if async_commit else ''} "
        f"WHERE m.{m['id']} = %(message)s AND m.{m['created_at']} >= %(oldest)s"
        f"), ins AS (INSERT INTO {clicks} ({written}) "
        "SELECT link_id, message_id, contact_id, campaign_id, variant_id, flow_id, %(at)s, "
        "floor(extract(epoch FROM %(at)s - delivered_at))::integer, %(ip)s, %(ua)s, "
        "CASE WHEN %(reason)s <> '' THEN %(reason)s "
        "WHEN delivered_at > %(too_soon)s THEN %(too_soon_label)s "
        f"WHEN EXISTS (SELECT 1 FROM {clicks} c WHERE c.{c['message']} = src.message_id "
        f"AND c.{c['link']} = src.link_id AND c.{c['clicked_at']} > %(repeat)s) "
        "THEN %(repeated_label)s ELSE '' END "
        f"FROM src RETURNING {returned}), {counted} "
        "SELECT src.destination, src.utm, src.utm_campaign, src.utm_content, ins.* FROM src, ins"
    )
