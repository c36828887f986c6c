"""Personalization tokens in message bodies: parse once, render per recipient.

This is the syntax marketers write; it is deliberately tiny and never evaluates anything.

Syntax
------
``{first_name}``
    Inserts the recipient's value. If it is missing or blank, rendering fails with
    `MissingTokenError` and the caller holds that recipient (reason ``missing_token``):
    we never send "Hi ,".
``{first_name|there}``
    Falls back to the text after ``|`` ("there") when the value is missing or blank.
    The default is used exactly as written (spaces included); it may not be blank and may
    not contain braces.
``{event.appointment_at:time}``
    A format for date/time values: ``:datetime`` (the default for datetimes,
    "Tue Nov 24, 3:30 PM"), ``:date`` ("Tue Nov 24") or ``:time`` ("3:30 PM"). Datetimes are
    shown in the recipient's time zone. A format and a default combine:
    ``{event.appointment_at:time|soon}``. A format on a value that is not a date is ignored.
``{{`` and ``}}``
    A literal ``{`` or ``}``. Any other brace on its own is an error.

Spaces around a token's name and format are ignored: ``{ first_name }`` is ``{first_name}``.

Token names
-----------
Names are lowercase: a letter, then letters, digits or underscores.

- Contact fields, by plain name: ``first_name``, ``last_name``, ``email``, ``phone``
  (`CONTACT_FIELDS`).
- Links made per person (`LINK_TOKENS`): ``{preferences_url}``, the signed link to the
  person's preference centre. Messages rendered one by one (flows, the API, agents, test
  sends) carry it; campaign fan-out renders in the database and cannot sign, so campaigns
  refuse it at launch.
- Contact attributes, always under ``attr.``: ``{attr.loyalty_tier}``.
- Event context (the trigger of an automation), always under ``event.``:
  ``{event.appointment_at}``.

``attr.`` and ``event.`` accept any single lowercase name after the dot, because attributes
and events are defined by the business, not by this code. Anything else (``{First_Name}``,
``{0}``, ``{__class__}``, ``{first_name.__class__}``) is an unknown token.

Values are looked up by the full token name in one flat mapping (``"attr.loyalty_tier"``);
`token_values` builds that mapping from a contact's fields, attributes and an event. A value
is inserted as text, never parsed again, so a value containing braces stays literal.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from zoneinfo import ZoneInfo

from consent.preferences import preferences_url

__all__ = [
    "CONTACT_FIELDS",
    "FORMATS",
    "KNOWN_TOKENS",
    "LINK_TOKENS",
    "OPEN_PREFIXES",
    "CompiledTemplate",
    "MissingTokenError",
    "TemplateSyntaxError",
    "TokenRegistry",
    "UnknownTokenError",
    "compile_template",
    "contact_token_values",
    "format_value",
    "token_values",
]

CONTACT_FIELDS: frozenset[str] = frozenset({"first_name", "last_name", "email", "phone"})
LINK_TOKENS: frozenset[str] = frozenset({"preferences_url"})
OPEN_PREFIXES: tuple[str, ...] = ("attr.", "event.")

# Longest text each format can produce ("Wed Sep 30, 12:30 PM"), for worst-case lengths.
FORMATS: Mapping[str, int] = {"datetime": 20, "date": 10, "time": 8}

_IDENTIFIER = re.compile(r"[a-z][a-z0-9_]*\Z")
# Alternation order matters: "{{" and "}}" must win over a token or a lone brace.
_LEXER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class TemplateSyntaxError(ValueError):
    """The body cannot be parsed. `position` is the 0-based offset of the problem, if known."""

    def __init__(self, message: str, *, position: int | None = None) -> None:
        super().__init__(message)
        self.position = position


class UnknownTokenError(TemplateSyntaxError):
    """The body uses token names the registry does not accept.

    `tokens` names every unknown token once, in order of first appearance.
    """

    def __init__(self, tokens: Iterable[str]) -> None:
        self.tokens: tuple[str, ...] = tuple(dict.fromkeys(tokens))
        names = ", ".join("{" + t + "}" for t in self.tokens)
        super().__init__(f"Unknown token(s): {names}")


class MissingTokenError(LookupError):
    """A recipient has no usable value for tokens that have no default.

    `tokens` names each of them once, in order. The caller holds the recipient with
    `reason` rather than sending a message with a hole in it.
    """

    reason = "missing_token"

    def __init__(self, tokens: Iterable[str]) -> None:
        self.tokens: tuple[str, ...] = tuple(dict.fromkeys(tokens))
        super().__init__(f"No value for: {', '.join(self.tokens)}")


@dataclass(frozen=True, slots=True)
class TokenRegistry:
    """Which token names a template may use: exact `names`, plus any ``<prefix><identifier>``."""

    names: frozenset[str]
    prefixes: tuple[str, ...] = ()

    @classmethod
    def from_names(cls, names: Iterable[str]) -> TokenRegistry:
        """Build a registry from plain names; an entry ending in "." is a prefix ("event.")."""
        names = list(names)
        return cls(
            names=frozenset(n for n in names if not n.endswith(".")),
            prefixes=tuple(n for n in names if n.endswith(".")),
        )

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        if name in self.names:
            return True
        for prefix in self.prefixes:
            if name.startswith(prefix) and _IDENTIFIER.match(name, len(prefix)):
                return True
        return False


KNOWN_TOKENS = TokenRegistry(names=CONTACT_FIELDS | LINK_TOKENS, prefixes=OPEN_PREFIXES)


# (index into the parts, token name, format or None, default or None)
_Slot = tuple[int, str, str | None, str | None]


class CompiledTemplate:
    """A parsed body: literal text with token slots, rendered by filling the slots and joining.

    Immutable and safe to share between threads; compile once per template version.
    """

    __slots__ = ("_parts", "_plain", "_slots", "source", "tokens")

    def __init__(self, source: str, parts: list[str], slots: list[_Slot]) -> None:
        self.source = source
        #: Every token name used, once each, in order of first appearance.
        self.tokens: tuple[str, ...] = tuple(dict.fromkeys(slot[1] for slot in slots))
        self._parts = tuple(parts)
        # Plain tuples: unpacking them is the cheapest thing the hot loop can do.
        self._slots = tuple(slots)
        self._plain = "".join(parts) if not slots else None

    def __repr__(self) -> str:
        return f"CompiledTemplate({self.source!r})"

    def render(self, values: Mapping[str, object], tz: tzinfo | str | None = None) -> str:
        """Return the body with every token filled from `values` (keyed by full token name).

        A value that is None, absent, or a blank string uses the token's default; without
        one, `MissingTokenError` names every such token. Strings are inserted as they are,
        never escaped. Datetimes must be aware; they are converted to `tz` (a tzinfo or an
        IANA name; None keeps the datetime's own zone) and formatted as documented above.
        Other values are inserted with `str()`.
        """
        if self._plain is not None:
            return self._plain
        out = list(self._parts)
        missing: list[str] = []
        for index, name, spec, default in self._slots:
            value = values.get(name)
            if value.__class__ is not str:
                value = None if value is None else format_value(value, spec, tz)
            # isspace() is False for "", hence the separate emptiness test.
            if value and not value.isspace():
                out[index] = value
            elif default is not None:
                out[index] = default
            else:
                missing.append(name)
        if missing:
            raise MissingTokenError(missing)
        return "".join(out)

    def worst_case_text(
        self,
        max_lengths: Mapping[str, int],
        *,
        default_length: int = 20,
        filler: str = "x",
    ) -> str:
        """The body with every token at its longest, for segment estimates.

        A token's longest value is `max_lengths[name]`, else the longest output of its date
        format (for ``:date``/``:time``/``:datetime``), else `default_length`; its default
        text counts if that is longer. Values are made of `filler` (GSM-7 "x" by default), so
        a value with a non-GSM character (a name like "Zoë") can still switch the real
        message to UCS-2; that is judged per recipient at send time.
        """
        out = list(self._parts)
        for index, name, spec, default in self._slots:
            length = max_lengths.get(name)
            if length is None:
                length = FORMATS[spec] if spec is not None else default_length
            value = filler * length
            if default is not None and len(default) > len(value):
                value = default
            out[index] = value
        return "".join(out)

    def worst_case_length(self, max_lengths: Mapping[str, int], *, default_length: int = 20) -> int:
        """Length in characters of `worst_case_text` (not segments: see the encoding module)."""
        return len(self.worst_case_text(max_lengths, default_length=default_length))

    def pieces(self) -> list[tuple[str, str, str | None, str | None]]:
        """The body in order, for callers that fill tokens elsewhere (fan-out builds it in SQL).

        Each piece is ``("literal", text, None, None)`` or ``("token", name, format, default)``;
        empty literals are left out.
        """
        slots = {index: (name, spec, default) for index, name, spec, default in self._slots}
        pieces: list[tuple[str, str, str | None, str | None]] = []
        for index, part in enumerate(self._parts):
            if index in slots:
                pieces.append(("token", *slots[index]))
            elif part:
                pieces.append(("literal", part, None, None))
        return pieces

    def shortest_text(self) -> str:
        """The body with each token at its shortest: its default text, or nothing."""
        out = list(self._parts)
        for index, _name, _spec, default in self._slots:
            out[index] = default or ""
        return "".join(out)


def compile_template(
    body: str, allowed: TokenRegistry | Iterable[str] | None = None
) -> CompiledTemplate:
    """Parse `body` into a `CompiledTemplate`.

    `allowed` is the registry of token names (default `KNOWN_TOKENS`); a plain iterable of
    names is accepted too, where an entry ending in "." is a prefix. Raises
    `TemplateSyntaxError` at the first structural problem (a lone brace, an empty token, an
    unknown format, a blank default), otherwise `UnknownTokenError` naming every token the
    registry does not accept.
    """
    if allowed is None:
        registry = KNOWN_TOKENS
    elif isinstance(allowed, TokenRegistry):
        registry = allowed
    else:
        registry = TokenRegistry.from_names(allowed)

    parts: list[str] = []
    slots: list[_Slot] = []
    unknown: list[str] = []
    literal: list[str] = []
    pos = 0
    for match in _LEXER.finditer(body):
        literal.append(body[pos : match.start()])
        pos = match.end()
        lexeme = match.group()
        if lexeme == "{{":
            literal.append("{")
            continue
        if lexeme == "}}":
            literal.append("}")
            continue
        if lexeme == "{":
            raise TemplateSyntaxError(
                f"Unclosed '{{' at position {match.start()}: write {{{{ for a literal brace.",
                position=match.start(),
            )
        if lexeme == "}":
            raise TemplateSyntaxError(
                f"Unmatched '}}' at position {match.start()}: write }}}} for a literal brace.",
                position=match.start(),
            )
        name, spec, default = _parse_token(match.group(1), match.start())
        if name not in registry:
            unknown.append(name)
        parts.append("".join(literal))
        literal.clear()
        slots.append((len(parts), name, spec, default))
        parts.append("")  # the slot, filled at render time
    literal.append(body[pos:])
    parts.append("".join(literal))
    if unknown:
        raise UnknownTokenError(unknown)
    return CompiledTemplate(body, parts, slots)


def _parse_token(inner: str, position: int) -> tuple[str, str | None, str | None]:
    """Split a token's inside into (name, format or None, default or None)."""
    head, bar, default = inner.partition("|")
    raw_name, colon, raw_spec = head.partition(":")
    name = raw_name.strip()
    if not name:
        raise TemplateSyntaxError(
            f"Empty token at position {position}: put a name inside the braces.",
            position=position,
        )
    spec: str | None = None
    if colon:
        spec = raw_spec.strip()
        if spec not in FORMATS:
            raise TemplateSyntaxError(
                f"Unknown format ':{spec}' in {{{inner}}} at position {position}; "
                f"use one of: {', '.join(':' + f for f in FORMATS)}.",
                position=position,
            )
    if bar and not default.strip():
        # An empty default would silently produce "Hi ," -- the thing defaults exist to avoid.
        raise TemplateSyntaxError(
            f"Blank default in {{{inner}}} at position {position}: "
            "write the fallback text after '|' or remove the '|'.",
            position=position,
        )
    return name, spec, (default if bar else None)


def format_value(value: object, spec: str | None, tz: tzinfo | str | None) -> str:
    """Text for one non-string value. Datetimes must be aware; see `CompiledTemplate.render`."""
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"Naive datetime {value!r}: token values must be timezone-aware.")
        if tz is not None:
            value = value.astimezone(ZoneInfo(tz) if isinstance(tz, str) else tz)
        if spec == "date":
            return _format_date(value)
        if spec == "time":
            return _format_time(value)
        return f"{_format_date(value)}, {_format_time(value)}"
    if isinstance(value, date):
        return _format_date(value)
    return str(value)


def _format_date(value: date) -> str:
    # Built by hand: strftime's %a/%b follow the process locale and %-d is not portable.
    return f"{_DAYS[value.weekday()]} {_MONTHS[value.month - 1]} {value.day}"


def _format_time(value: datetime) -> str:
    meridiem = "AM" if value.hour < 12 else "PM"
    return f"{value.hour % 12 or 12}:{value.minute:02d} {meridiem}"


def token_values(
    fields: Mapping[str, object] | None = None,
    *,
    attributes: Mapping[str, object] | None = None,
    event: Mapping[str, object] | None = None,
) -> dict[str, object]:
    """Flatten a contact's fields, attributes and an event into the mapping `render` takes.

    Attributes become ``attr.<key>`` and event data ``event.<key>``; only contact fields in
    `CONTACT_FIELDS` are kept, so nothing else on a contact row can leak into a message.
    """
    values: dict[str, object] = {}
    if fields:
        values.update((k, v) for k, v in fields.items() if k in CONTACT_FIELDS)
    if attributes:
        values.update((f"attr.{k}", v) for k, v in attributes.items())
    if event:
        values.update((f"event.{k}", v) for k, v in event.items())
    return values


def contact_token_values(
    contact, *, event: Mapping[str, object] | None = None, links: bool = True
) -> dict[str, object]:
    """`token_values` for a contact (any object with its fields and `attributes`), with the
    per-person links (`LINK_TOKENS`) unless `links` is False."""
    values = token_values(
        {name: getattr(contact, name, None) for name in CONTACT_FIELDS},
        attributes=getattr(contact, "attributes", None),
        event=event,
    )
    if links and getattr(contact, "pk", None) and getattr(contact, "phone", None):
        values["preferences_url"] = preferences_url(contact)
    return values
