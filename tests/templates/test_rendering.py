"""Personalization tokens: parsing, rendering, and what must never reach a recipient."""

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from templates.rendering import (
    KNOWN_TOKENS,
    MissingTokenError,
    TemplateSyntaxError,
    TokenRegistry,
    UnknownTokenError,
    compile_template,
    token_values,
)

APPOINTMENT = datetime(2026, 11, 24, 20, 30, tzinfo=UTC)  # 3:30 PM in New York


def render(body: str, values: dict[str, object], **kwargs: object) -> str:
    return compile_template(body).render(values, **kwargs)


def test_it_inserts_values_without_html_escaping() -> None:
    body = "Hi {first_name} {last_name}, <b>&</b>"
    values = {"first_name": "Seán", "last_name": 'O\'Brien & "Sons" <x>'}

    assert render(body, values) == 'Hi Seán O\'Brien & "Sons" <x>, <b>&</b>'


def test_it_renders_a_body_without_tokens_as_is() -> None:
    assert render("Sale today. Reply STOP to opt out", {}) == "Sale today. Reply STOP to opt out"


def test_it_treats_doubled_braces_as_literal_braces() -> None:
    template = compile_template("{{first_name}} is {first_name}; {{{first_name}}} }}{{")

    assert template.tokens == ("first_name",)
    assert template.render({"first_name": "Ann"}) == "{first_name} is Ann; {Ann} }{"


def test_it_never_reparses_a_value_containing_braces() -> None:
    assert render("Hi {first_name}", {"first_name": "{last_name} {{"}) == "Hi {last_name} {{"


@pytest.mark.parametrize("value", [None, "", "   ", "\t\n"])
def test_it_uses_the_default_when_the_value_is_missing_or_blank(value: object) -> None:
    assert render("Hi {first_name|there}!", {"first_name": value}) == "Hi there!"
    assert render("Hi {first_name|there}!", {}) == "Hi there!"


def test_it_keeps_the_default_text_exactly_as_written() -> None:
    assert render("Hi{first_name| friend: a|b}!", {}) == "Hi friend: a|b!"


def test_it_prefers_the_value_over_the_default() -> None:
    assert render("Hi {first_name|there}!", {"first_name": "Ann"}) == "Hi Ann!"


def test_it_raises_missing_token_naming_every_missing_token_instead_of_a_hole() -> None:
    template = compile_template("Hi {first_name}, {attr.tier} {first_name} {last_name|x}")

    with pytest.raises(MissingTokenError) as exc:
        template.render({"first_name": "  ", "last_name": None})

    assert exc.value.tokens == ("first_name", "attr.tier")
    assert exc.value.reason == "missing_token"


def test_it_lists_tokens_once_in_order() -> None:
    template = compile_template("{event.at:time} {first_name} {attr.tier} {first_name|x}")

    assert template.tokens == ("event.at", "first_name", "attr.tier")


def test_it_ignores_spaces_around_the_name_and_format() -> None:
    template = compile_template("Hi { first_name }, at { event.at : time |soon}")

    assert template.tokens == ("first_name", "event.at")
    assert template.render({"first_name": "Ann"}) == "Hi Ann, at soon"


def test_it_accepts_contact_fields_and_any_attr_or_event_name() -> None:
    template = compile_template(
        "{first_name}{last_name}{email}{phone}{attr.loyalty_tier}{event.x1}"
    )

    assert len(template.tokens) == 6
    assert "attr.anything_2" in KNOWN_TOKENS
    assert "loyalty_tier" not in KNOWN_TOKENS


def test_it_names_every_unknown_token_in_order() -> None:
    body = "{First_Name} {first_name} {loyalty_tier} {attr.} {attr.a.b} {First_Name} {event.X}"

    with pytest.raises(UnknownTokenError) as exc:
        compile_template(body)

    assert exc.value.tokens == ("First_Name", "loyalty_tier", "attr.", "attr.a.b", "event.X")
    assert isinstance(exc.value, ValueError)
    assert isinstance(exc.value, TemplateSyntaxError)


@pytest.mark.parametrize(
    ("body", "token"),
    [
        ("{__class__}", "__class__"),
        ("{first_name.__class__}", "first_name.__class__"),
        ("{0}", "0"),
        ("{attr.__dict__}", "attr.__dict__"),
        ("{first_name[0]}", "first_name[0]"),
        ("{event.at.__globals__}", "event.at.__globals__"),
    ],
)
def test_it_rejects_code_injection_attempts_as_unknown_tokens(body: str, token: str) -> None:
    with pytest.raises(UnknownTokenError) as exc:
        compile_template(body)

    assert exc.value.tokens == (token,)


def test_it_never_evaluates_attribute_access_on_values() -> None:
    # Even with a permissive registry, a dotted name is a dictionary key, not an attribute.
    template = compile_template("{event.at}", TokenRegistry.from_names(["event."]))

    with pytest.raises(MissingTokenError):
        template.render({"event": {"at": "secret"}})


@pytest.mark.parametrize(
    "body",
    [
        "Hi {first_name",
        "Hi first_name}",
        "Hi {first_name}}",
        "{a{b}}",
        "50% off {",
        "} {first_name}",
    ],
)
def test_it_rejects_unbalanced_braces(body: str) -> None:
    with pytest.raises(TemplateSyntaxError) as exc:
        compile_template(body)

    assert not isinstance(exc.value, UnknownTokenError)
    assert exc.value.position is not None


@pytest.mark.parametrize("body", ["Hi {}", "Hi { }", "Hi {|there}", "Hi {:time}"])
def test_it_rejects_empty_tokens(body: str) -> None:
    with pytest.raises(TemplateSyntaxError, match="Empty token"):
        compile_template(body)


@pytest.mark.parametrize("body", ["Hi {first_name|}", "Hi {first_name|  }"])
def test_it_rejects_a_blank_default_that_would_leave_a_hole(body: str) -> None:
    with pytest.raises(TemplateSyntaxError, match="Blank default"):
        compile_template(body)


def test_it_rejects_an_unknown_format() -> None:
    with pytest.raises(TemplateSyntaxError, match="Unknown format"):
        compile_template("{event.at:%Y-%m-%d}")


def test_it_formats_datetimes_in_the_recipient_time_zone() -> None:
    template = compile_template("{event.at} | {event.at:date} | {event.at:time}")

    new_york = template.render({"event.at": APPOINTMENT}, tz=ZoneInfo("America/New_York"))
    los_angeles = template.render({"event.at": APPOINTMENT}, tz="America/Los_Angeles")
    tokyo = template.render({"event.at": APPOINTMENT}, tz="Asia/Tokyo")

    assert new_york == "Tue Nov 24, 3:30 PM | Tue Nov 24 | 3:30 PM"
    assert los_angeles == "Tue Nov 24, 12:30 PM | Tue Nov 24 | 12:30 PM"
    assert tokyo == "Wed Nov 25, 5:30 AM | Wed Nov 25 | 5:30 AM"


def test_it_keeps_the_datetime_own_zone_without_a_tz() -> None:
    value = datetime(2026, 3, 1, 0, 5, tzinfo=timezone(timedelta(hours=-5)))

    assert render("{event.at}", {"event.at": value}) == "Sun Mar 1, 12:05 AM"


def test_it_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="Naive"):
        render("{event.at}", {"event.at": datetime(2026, 11, 24, 15, 30)})


def test_it_formats_dates_and_other_values_as_text() -> None:
    body = "{event.on} {attr.points} {attr.vip:time}"
    values = {"event.on": date(2026, 1, 2), "attr.points": 1200, "attr.vip": "yes"}

    assert render(body, values) == "Fri Jan 2 1200 yes"


def test_it_computes_the_worst_case_text_from_max_lengths() -> None:
    template = compile_template("Hi {first_name}, {attr.tier|Valued customer} {event.at:time}!")

    text = template.worst_case_text({"first_name": 12, "attr.tier": 4})

    assert text == "Hi " + "x" * 12 + ", Valued customer " + "x" * 8 + "!"
    assert template.worst_case_length({"first_name": 12, "attr.tier": 4}) == len(text)
    assert template.worst_case_length({}, default_length=5) == len("Hi , Valued customer !") + 5 + 8


def test_it_computes_the_shortest_text_with_defaults() -> None:
    template = compile_template("Hi {first_name|there}, {attr.tier}!")

    assert template.shortest_text() == "Hi there, !"


def test_it_accepts_a_custom_registry_of_names_and_prefixes() -> None:
    template = compile_template("{first_name} {order.number}", ["first_name", "order."])

    assert template.render({"first_name": "Ann", "order.number": 42}) == "Ann 42"
    with pytest.raises(UnknownTokenError) as exc:
        compile_template("{last_name} {attr.tier}", ["first_name", "order."])
    assert exc.value.tokens == ("last_name", "attr.tier")


def test_it_flattens_contact_fields_attributes_and_event() -> None:
    values = token_values(
        {"first_name": "Ann", "phone": "+15551234567", "password_hash": "x"},
        attributes={"loyalty_tier": "Gold"},
        event={"appointment_at": APPOINTMENT},
    )

    assert values == {
        "first_name": "Ann",
        "phone": "+15551234567",
        "attr.loyalty_tier": "Gold",
        "event.appointment_at": APPOINTMENT,
    }
