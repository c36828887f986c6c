"""The one phone-number normalizer.

Every way a number enters the system (forms, admin search, imports, API, webhooks) goes through
`normalize_phone`, and numbers are stored in E.164. Parsing is done once, at the edge: never per
send (phonenumbers costs ~16-33 µs a call: docs/performance.md#per-item-costs).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from decimal import Decimal, InvalidOperation

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError

# Spreadsheets turn long digit strings into floats: "1.4155552671E+10" or "14155552671.0".
_SCIENTIFIC = re.compile(r"^\+?\d(?:\.\d+)?[eE]\+?\d{1,2}$")
_FLOAT_TAIL = re.compile(r"^(\+?\d{7,15})\.0+$")
_ALLOWED = re.compile(r"^[\d\s().\-+/]+$")
_EXTENSION = re.compile(r"\d\s*(?:x|ext\.?|extension|#)\s*\d+$", re.IGNORECASE)

_REASONS = {
    phonenumbers.ValidationResult.INVALID_COUNTRY_CODE: "the country code is not valid",
    phonenumbers.ValidationResult.TOO_SHORT: "it has too few digits",
    phonenumbers.ValidationResult.TOO_LONG: "it has too many digits",
    phonenumbers.ValidationResult.INVALID_LENGTH: "it has the wrong number of digits",
}


class InvalidPhoneNumber(ValidationError):
    """A phone number that cannot be read. The message quotes the input and says why."""

    def __init__(self, raw: object, reason: str) -> None:
        self.raw = raw
        self.reason = reason
        super().__init__(
            "“%(raw)s” is not a valid phone number: %(reason)s.",
            code="invalid_phone",
            params={"raw": raw, "reason": reason},
        )

    def __str__(self) -> str:
        return f"“{self.raw}” is not a valid phone number: {self.reason}."


def _unmangle_spreadsheet(text: str) -> str:
    if match := _FLOAT_TAIL.match(text):
        return match.group(1)
    if _SCIENTIFIC.match(text):
        try:
            value = Decimal(text.lstrip("+"))
        except InvalidOperation:
            return text
        mantissa_digits = re.sub(r"\D", "", re.split(r"[eE]", text)[0])
        digits = str(int(value))
        if value != value.to_integral_value() or len(mantissa_digits) < len(digits):
            return text  # the spreadsheet dropped digits: the caller reports it
        return ("+" if text.startswith("+") else "") + digits
    return text


def normalize_phone(raw: object, region: str | None = None) -> str:
    """Return `raw` as an E.164 string ("+14155552671") or raise `InvalidPhoneNumber`.

    Accepts national formats for `region` (default `settings.DEFAULT_REGION`), "+" and "00"
    international formats, spaces, dashes, dots, slashes and parentheses, and the float and
    scientific forms a spreadsheet leaves behind. Letters (vanity numbers) are refused: a
    consent record must name the number exactly as it is dialled.
    """
    if isinstance(raw, str) and raw in _KNOWN:
        return raw
    if raw is None:
        raise InvalidPhoneNumber("", "it is empty")
    if isinstance(raw, int | float | Decimal) and not isinstance(raw, bool):
        raw = format(Decimal(str(raw)), "f")
    text = str(raw).strip()
    if not text:
        raise InvalidPhoneNumber(raw, "it is empty")
    unmangled = _unmangle_spreadsheet(text)
    if unmangled == text and _SCIENTIFIC.match(text):
        raise InvalidPhoneNumber(
            raw, "a spreadsheet rounded it to scientific notation; format the column as text"
        )
    text = unmangled
    if _EXTENSION.search(text):
        raise InvalidPhoneNumber(raw, "a number with an extension cannot receive text messages")
    if not _ALLOWED.match(text):
        raise InvalidPhoneNumber(raw, "it may contain only digits, spaces, + ( ) . - and /")
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, region or settings.DEFAULT_REGION)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(raw, _parse_error_reason(exc)) from exc
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible in _REASONS:
        raise InvalidPhoneNumber(raw, _REASONS[possible])
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber(raw, "no such number exists in its numbering plan")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if len(_KNOWN) >= _KNOWN_MAX:
        _KNOWN.clear()
    _KNOWN.add(e164)
    return e164


#: Numbers this process already found to be valid E.164: normalizing one again (a number checked
#: at the door, then by the consent gate) costs a set look-up instead of a parse (~30 us).
_KNOWN: set[str] = set()
_KNOWN_MAX = 50_000


def _parse_error_reason(exc: phonenumbers.NumberParseException) -> str:
    return {
        phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "the country code is not valid",
        phonenumbers.NumberParseException.NOT_A_NUMBER: "it is not a phone number",
        phonenumbers.NumberParseException.TOO_SHORT_NSN: "it has too few digits",
        phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "it has too few digits",
        phonenumbers.NumberParseException.TOO_LONG: "it has too many digits",
    }.get(exc.error_type, "it is not a phone number")


def try_normalize_phone(raw: object, region: str | None = None) -> str | None:
    """`normalize_phone`, returning None instead of raising (for search boxes)."""
    try:
        return normalize_phone(raw, region)
    except InvalidPhoneNumber:
        return None


def phone_hash(e164: str) -> str:
    """Keyed hash of an E.164 number: how an erased number stays suppressed without being kept."""
    key = settings.PHONE_HASH_KEY.encode()
    return hmac.new(key, e164.encode(), hashlib.sha256).hexdigest()
