import pytest
from django.test import override_settings

from consent.phones import InvalidPhoneNumber, normalize_phone, phone_hash


@pytest.mark.parametrize(
    "raw",
    [
        "(415) 555-2671",
        "415-555-2671",
        "415.555.2671",
        "415 555 2671",
        "4155552671",
        "1 415 555 2671",
        "+1 415 555 2671",
        "+1 (415) 555-2671",
        "+14155552671",
        "001 415 555 2671",
        "  415/555/2671 ",
        "1.4155552671E+10",
        "14155552671.0",
        14155552671,
    ],
)
def test_it_reads_every_common_us_format_as_e164(raw):
    assert normalize_phone(raw) == "+14155552671"


def test_it_reads_international_numbers():
    assert normalize_phone("+44 20 7946 0958") == "+442079460958"
    assert normalize_phone("0044 20 7946 0958") == "+442079460958"


@override_settings(DEFAULT_REGION="GB")
def test_it_reads_national_numbers_in_the_default_region():
    assert normalize_phone("020 7946 0958") == "+442079460958"


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("hello", "only digits"),
        ("1-800-FLOWERS", "only digits"),
        ("415-555-267", "too few digits"),
        ("+1 415 555 26711 2", "too many digits"),
        ("555-555-5555", "no such number"),
        ("1.415E+10", "spreadsheet rounded"),
        ("415 555 2671 x12", "extension"),
        ("+999 123 4567", "country code"),
    ],
)
def test_it_rejects_bad_input_quoting_it_and_saying_why(raw, why):
    with pytest.raises(InvalidPhoneNumber) as caught:
        normalize_phone(raw)
    message = str(caught.value)
    assert f"“{raw}”" in message
    assert why in message


def test_it_is_a_django_validation_error_for_forms():
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as caught:
        normalize_phone("nope")
    assert caught.value.code == "invalid_phone"


def test_it_hashes_numbers_with_a_key():
    default = phone_hash("+14155552671")
    assert default == phone_hash("+14155552671")
    assert default != phone_hash("+14155552672")
    with override_settings(PHONE_HASH_KEY="another key"):
        assert phone_hash("+14155552671") != default
