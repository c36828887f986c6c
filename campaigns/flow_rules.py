"""What a flow may say, checked and evaluated without the database: event types, conditions
(`{field, op, value}` on the event) and the limits of its timing. `Flow.clean()` and the admin
use `flow_problems`; `campaigns.flows` evaluates `conditions_hold` for each event.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from messaging.keywords import Intent, assess

if TYPE_CHECKING:
    from .models import Flow, FlowEvent

EVENT_TYPE_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$"
#: Event types the product itself raises (partners post their own, e.g. `lead.created`).
OPTED_IN_EVENT = "consent.opted_in"
MONTHLY_REMINDER_EVENT = "subscription.monthly_reminder"
#: Condition operators: what each asks of the event's value.
OPS = ("eq", "ne", "in", "exists", "gt", "gte", "lt", "lte", "contains")
#: Events the product raises itself: their data has no times to anchor to.
INTERNAL_EVENTS = (OPTED_IN_EVENT, MONTHLY_REMINDER_EVENT)
#: A partner's order: also recorded as a conversion (messaging.conversions).
CONVERSION_EVENT = "conversion.recorded"
#: How far from its anchor a flow may send (a reminder a quarter ahead is already odd).
MAX_OFFSET = timedelta(days=90)

#: Replies that never reach a flow: an opt-out or a HELP is answered by the number's rules alone
#: (`messaging.inbound.reply_hooks`).
NOT_SUCCESS_INTENTS = (Intent.OPT_OUT, Intent.HELP)

_PATH = re.compile(r"[a-z_][a-z0-9_]*(\.[a-z0-9_]+)*\Z", re.IGNORECASE)
MISSING = object()


# --- Conditions -----------------------------------------------------------------------------


def event_value(event: FlowEvent, field: str) -> Any:
    """The value `field` names ("type" or "data.a.b"), or `MISSING`."""
    if field == "type":
        return event.type
    value: Any = event.data
    for key in field.removeprefix("data.").split("."):
        if not isinstance(value, dict) or key not in value:
            return MISSING
        value = value[key]
    return value


def as_datetime(value: Any) -> datetime | None:
    """An aware datetime from a datetime or an ISO 8601 string with an offset, else None."""
    if isinstance(value, datetime):
        return value if timezone.is_aware(value) else None
    if not isinstance(value, str):
        return None
    try:
        parsed = parse_datetime(value)
    except ValueError:
        return None
    return parsed if parsed is not None and timezone.is_aware(parsed) else None


def _comparable(value: Any) -> float | datetime | None:
    """Numbers compare as numbers, ISO datetimes as datetimes; anything else not at all."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    return as_datetime(value)


def _same(a: Any, b: Any) -> bool:
    left, right = as_datetime(a), as_datetime(b)
    if left is not None and right is not None:
        return left == right
    return a == b


def condition_holds(event: FlowEvent, condition: dict[str, Any]) -> bool:
    """Whether one `{field, op, value}` holds for the event. A missing field fails every op
    except `ne` and `exists: false`; values of different kinds never order (`gt` is False)."""
    op, expected = condition.get("op"), condition.get("value")
    actual = event_value(event, str(condition.get("field", "")))
    if op == "exists":
        present = actual is not MISSING and actual is not None
        return present is (expected is not False)
    if actual is MISSING:
        return op == "ne"
    if op == "eq":
        return _same(actual, expected)
    if op == "ne":
        return not _same(actual, expected)
    if op == "in":
        return isinstance(expected, list) and any(_same(actual, o) for o in expected)
    if op == "contains":
        if isinstance(actual, str):
            return isinstance(expected, str) and expected in actual
        if isinstance(actual, list | dict):
            return expected in actual
        return False
    if op not in ("gt", "gte", "lt", "lte"):
        return False  # a malformed condition (the admin refuses them) never matches
    left, right = _comparable(actual), _comparable(expected)
    if left is None or right is None or isinstance(left, datetime) != isinstance(right, datetime):
        return False
    return {
        "gt": left > right,
        "gte": left >= right,
        "lt": left < right,
        "lte": left <= right,
    }[op]


def conditions_hold(event: FlowEvent, conditions: list[dict[str, Any]]) -> bool:
    return all(condition_holds(event, c) for c in conditions or [])


def conditions_problems(conditions: Any) -> list[str]:
    """What is wrong with a flow's `conditions`, one readable sentence each (empty: fine)."""
    if not isinstance(conditions, list):
        return ['A list of {"field", "op", "value"} objects, e.g. '
                '[{"field": "data.source", "op": "eq", "value": "website"}].']  # fmt: skip
    problems = []
    for n, condition in enumerate(conditions, start=1):
        if not isinstance(condition, dict):
            problems.append(f"Condition {n} is not an object.")
            continue
        unknown = set(condition) - {"field", "op", "value"}
        if unknown:
            problems.append(f"Condition {n} has unknown keys: {', '.join(sorted(unknown))}.")
        field, op = condition.get("field"), condition.get("op")
        if not isinstance(field, str) or not (
            field == "type" or (field.startswith("data.") and _PATH.match(field[5:]))
        ):
            problems.append(f'Condition {n}: field must be "type" or "data.<key>", not {field!r}.')
        if op not in OPS:
            problems.append(f"Condition {n}: op must be one of {', '.join(OPS)}, not {op!r}.")
            continue
        value = condition.get("value")
        if op == "exists":
            if "value" in condition and not isinstance(value, bool):
                problems.append(f"Condition {n}: exists takes true or false.")
        elif "value" not in condition:
            problems.append(f"Condition {n}: {op} needs a value.")
        elif op == "in" and not isinstance(value, list):
            problems.append(f"Condition {n}: in takes a list of values.")
        elif op in ("gt", "gte", "lt", "lte") and _comparable(value) is None:
            problems.append(
                f"Condition {n}: {op} compares numbers or ISO datetimes with an offset, "
                f"not {value!r}."
            )
        elif op == "contains" and isinstance(value, dict | list):
            problems.append(f"Condition {n}: contains takes one value.")
    return problems


def flow_problems(flow: Flow) -> dict[str, list[str]]:
    """Field -> problems for a flow about to be saved (the admin form shows them per field)."""
    problems: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        problems.setdefault(field, []).append(message)

    if flow.trigger and not re.match(EVENT_TYPE_PATTERN, flow.trigger):
        add("trigger", "An event type such as lead.created (lowercase, dotted).")
    for problem in conditions_problems(flow.conditions):
        add("conditions", problem)
    if flow.template_id and flow.program_id and flow.template.program_id != flow.program_id:
        add("template", "The template belongs to another program.")
    anchor = (flow.anchor or "").strip()
    offset = flow.offset or timedelta(0)
    if anchor and not _PATH.match(anchor):
        add("anchor", "A key of the event's data, e.g. appointment_at.")
    if anchor and flow.trigger in INTERNAL_EVENTS:
        add("anchor", f"{flow.trigger} events carry no times to count from; leave it blank.")
    if not anchor and offset < timedelta(0):
        add("offset", "Without an anchor the flow counts from when the event occurred, which "
                      "has already passed: a negative offset needs an anchor.")  # fmt: skip
    if abs(offset) > MAX_OFFSET:
        add("offset", f"At most {MAX_OFFSET.days} days before or after.")
    if flow.max_lateness is not None and flow.max_lateness < timedelta(0):
        add("max_lateness", "Cannot be negative.")
    replies = flow.success_replies or []
    if not isinstance(replies, list) or not all(isinstance(r, str) and r.strip() for r in replies):
        add("success_replies", 'A list of replies, e.g. ["C", "YES"].')
    else:
        for reply in replies:
            if assess(reply).intent in NOT_SUCCESS_INTENTS:
                add("success_replies", f"{reply.strip()} is an opt-out or HELP keyword: "
                                       "it is never a flow's success.")  # fmt: skip
    if flow.success_window is not None and flow.success_window <= timedelta(0):
        add("success_window", "Must be longer than zero.")
    return problems


def success_reply_word(text: str) -> str:
    """A reply as compared with a flow's success replies: the whole of it, in any case."""
    return text.strip().upper()


def flow_validate(flow: Flow) -> None:
    """Raise a ValidationError naming each field with a problem."""
    problems = flow_problems(flow)
    if problems:
        raise ValidationError(problems)
