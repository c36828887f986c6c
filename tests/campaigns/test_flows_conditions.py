"""Flow conditions: each operator, dotted paths, datetimes as datetimes, missing fields."""

import pytest

from campaigns.flows import condition_holds, conditions_hold, conditions_problems
from campaigns.models import FlowEvent

EVENT = FlowEvent(
    type="appointment.booked",
    data={
        "source": "website",
        "total": 120.5,
        "count": 3,
        "tags": ["vip", "new"],
        "note": "first visit",
        "appointment_at": "2030-05-01T15:30:00-05:00",
        "shop": {"city": "Austin", "id": 7},
        "empty": None,
    },
)


def holds(field, op, value=None, **extra):
    condition = {"field": field, "op": op, **({"value": value} if value is not None else {})}
    return condition_holds(EVENT, condition | extra)


@pytest.mark.parametrize(
    ("field", "op", "value", "expected"),
    [
        ("type", "eq", "appointment.booked", True),
        ("type", "eq", "lead.created", False),
        ("data.source", "eq", "website", True),
        ("data.source", "ne", "website", False),
        ("data.source", "ne", "store", True),
        ("data.source", "in", ["store", "website"], True),
        ("data.source", "in", ["store"], False),
        ("data.total", "gt", 100, True),
        ("data.total", "gt", 120.5, False),
        ("data.total", "gte", 120.5, True),
        ("data.count", "lt", 3, False),
        ("data.count", "lte", 3, True),
        ("data.tags", "contains", "vip", True),
        ("data.tags", "contains", "gold", False),
        ("data.note", "contains", "visit", True),
        ("data.note", "contains", "Visit", False),
        ("data.shop.city", "eq", "Austin", True),
        ("data.shop.id", "in", [7, 8], True),
        ("data.shop.zip", "eq", "73301", False),
    ],
)
def test_it_evaluates_each_operator(field, op, value, expected):
    assert holds(field, op, value) is expected


def test_it_compares_iso_datetimes_as_datetimes_not_as_text():
    # The same instant in UTC: equal as a time, different as text.
    assert holds("data.appointment_at", "eq", "2030-05-01T20:30:00+00:00")
    assert holds("data.appointment_at", "gt", "2030-05-01T20:00:00Z")
    assert not holds("data.appointment_at", "lt", "2030-05-01T20:00:00Z")
    # Text order would say "2030-05-01T15..." < "2030-05-01T16...": as times it is later.
    assert holds("data.appointment_at", "gt", "2030-05-01T16:00:00-00:00")


def test_values_of_different_kinds_never_order():
    assert not holds("data.source", "gt", 3)
    assert not holds("data.total", "lt", "2030-01-01T00:00:00Z")
    assert not holds("data.tags", "gte", 1)


def test_a_missing_field_fails_every_operator_but_ne_and_not_exists():
    assert holds("data.nope", "exists", False)
    assert holds("data.empty", "exists", False)
    assert not holds("data.nope", "exists")
    assert holds("data.source", "exists")
    assert holds("data.nope", "ne", "x")
    for op, value in [("eq", "x"), ("in", ["x"]), ("gt", 1), ("contains", "x")]:
        assert not holds("data.nope", op, value)


def test_every_condition_must_hold():
    one = {"field": "data.source", "op": "eq", "value": "website"}
    other = {"field": "data.count", "op": "gt", "value": 5}
    assert conditions_hold(EVENT, [one])
    assert not conditions_hold(EVENT, [one, other])
    assert conditions_hold(EVENT, [])


@pytest.mark.parametrize(
    ("conditions", "problem"),
    [
        ({"field": "type"}, "A list of"),
        (["x"], "Condition 1 is not an object"),
        ([{"field": "source", "op": "eq", "value": 1}], 'field must be "type" or "data.<key>"'),
        ([{"field": "data.a", "op": "like", "value": 1}], "op must be one of"),
        ([{"field": "data.a", "op": "eq"}], "eq needs a value"),
        ([{"field": "data.a", "op": "in", "value": "x"}], "in takes a list"),
        ([{"field": "data.a", "op": "gt", "value": "soon"}], "gt compares numbers"),
        ([{"field": "data.a", "op": "gt", "value": "2030-01-01T00:00:00"}], "gt compares"),
        ([{"field": "data.a", "op": "exists", "value": "yes"}], "exists takes true or false"),
        ([{"field": "data.a", "op": "eq", "value": 1, "when": 2}], "unknown keys: when"),
    ],
)
def test_it_explains_badly_shaped_conditions(conditions, problem):
    problems = conditions_problems(conditions)
    assert any(problem in p for p in problems), problems


def test_well_shaped_conditions_have_no_problems():
    assert (
        conditions_problems(
            [
                {"field": "type", "op": "eq", "value": "lead.created"},
                {"field": "data.shop.city", "op": "in", "value": ["Austin"]},
                {"field": "data.at", "op": "gte", "value": "2030-01-01T00:00:00Z"},
                {"field": "data.x", "op": "exists"},
            ]
        )
        == []
    )


def test_a_malformed_stored_condition_never_matches_and_never_crashes():
    for condition in [{}, {"op": "like", "field": "data.source"}, {"field": "type", "op": "in"}]:
        assert condition_holds(EVENT, condition) is False
