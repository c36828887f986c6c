"""Federal holidays (checked against OPM's published lists) and the revocation deadline."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from config.lib.business_days import add_business_days, is_business_day, us_federal_holidays

NEW_YORK = ZoneInfo("America/New_York")


def dates(*isoformats: str) -> set[date]:
    return {date.fromisoformat(d) for d in isoformats}


# --- Holidays, as on opm.gov/policy-data-oversight/pay-leave/federal-holidays ------------------


def test_it_lists_the_2025_federal_holidays() -> None:
    assert us_federal_holidays(2025) == dates(
        "2025-01-01", "2025-01-20", "2025-02-17", "2025-05-26", "2025-06-19", "2025-07-04",
        "2025-09-01", "2025-10-13", "2025-11-11", "2025-11-27", "2025-12-25",
    )  # fmt: skip


def test_it_lists_the_2026_federal_holidays_with_july_4th_observed_on_friday() -> None:
    assert us_federal_holidays(2026) == dates(
        "2026-01-01", "2026-01-19", "2026-02-16", "2026-05-25", "2026-06-19",
        "2026-07-03",  # Independence Day falls on Saturday 4 July
        "2026-09-07", "2026-10-12", "2026-11-11", "2026-11-26", "2026-12-25",
    )  # fmt: skip


def test_it_lists_the_2027_federal_holidays_with_weekend_ones_observed_on_weekdays() -> None:
    assert us_federal_holidays(2027) == dates(
        "2027-01-01", "2027-01-18", "2027-02-15", "2027-05-31",
        "2027-06-18",  # Juneteenth falls on Saturday 19 June
        "2027-07-05",  # Independence Day falls on Sunday 4 July
        "2027-09-06", "2027-10-11", "2027-11-11", "2027-11-25",
        "2027-12-24",  # Christmas Day falls on Saturday 25 December
        "2027-12-31",  # New Year's Day 2028 falls on Saturday 1 January
    )  # fmt: skip


def test_it_leaves_a_saturday_new_years_day_to_the_previous_year() -> None:
    assert date(2027, 12, 31) in us_federal_holidays(2027)
    holidays_2028 = us_federal_holidays(2028)
    assert len(holidays_2028) == 10
    assert not {date(2027, 12, 31), date(2028, 1, 1)} & holidays_2028


def test_it_observes_a_sunday_holiday_on_the_monday() -> None:
    assert date(2022, 12, 26) in us_federal_holidays(2022)  # Christmas on a Sunday
    assert date(2023, 1, 2) in us_federal_holidays(2023)  # New Year's Day on a Sunday


def test_it_adds_juneteenth_from_2021() -> None:
    assert date(2021, 6, 18) in us_federal_holidays(2021)  # first observance, a Friday
    assert not any(d.month == 6 for d in us_federal_holidays(2020))


def test_it_refuses_years_before_martin_luther_king_day() -> None:
    with pytest.raises(ValueError, match="1986"):
        us_federal_holidays(1985)


def test_it_hands_out_a_copy_of_the_cached_holidays() -> None:
    us_federal_holidays(2026).clear()
    assert len(us_federal_holidays(2026)) == 11


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 7, 2), True),  # Thursday
        (date(2026, 7, 3), False),  # observed Independence Day
        (date(2026, 7, 4), False),  # Saturday
        (date(2026, 7, 6), True),  # Monday
        (date(2025, 12, 24), True),  # closed by executive order, still a business day here
    ],
)
def test_it_tells_business_days_apart(day: date, expected: bool) -> None:
    assert is_business_day(day) is expected


# --- Deadlines -------------------------------------------------------------------------------


def test_it_skips_thanksgiving() -> None:
    # Wednesday 19 Nov 2025: 20, 21, 24, 25, 26, (27 Thanksgiving), 28, 1, 2, 3, 4 Dec.
    assert add_business_days(date(2025, 11, 19), 10) == date(2025, 12, 4)


def test_it_skips_christmas_and_new_years_day() -> None:
    # Friday 19 Dec 2025: 22, 23, 24, (25), 26, 29, 30, 31, (1 Jan), 2, 5, 6 Jan 2026.
    assert add_business_days(date(2025, 12, 19), 10) == date(2026, 1, 6)


def test_it_skips_christmas_and_new_year_observed_on_fridays() -> None:
    # Friday 17 Dec 2027: 20-23, (24 observed Christmas), 27-30, (31 observed New Year), 3, 4 Jan.
    assert add_business_days(date(2027, 12, 17), 10) == date(2028, 1, 4)


def test_it_skips_an_observed_friday_holiday_and_the_weekend() -> None:
    assert add_business_days(date(2026, 7, 2), 1) == date(2026, 7, 6)


def test_it_starts_counting_on_the_next_business_day_after_a_weekend_receipt() -> None:
    assert add_business_days(date(2025, 11, 22), 1) == date(2025, 11, 24)  # Saturday -> Monday
    assert add_business_days(date(2025, 11, 22), 10) == date(2025, 12, 8)


def test_it_does_not_count_the_start_day() -> None:
    assert add_business_days(date(2025, 11, 17), 1) == date(2025, 11, 18)  # Monday -> Tuesday
    assert add_business_days(date(2025, 11, 17), 5) == date(2025, 11, 24)  # a week later


def test_it_returns_the_start_for_zero_days() -> None:
    saturday = date(2025, 11, 22)
    assert add_business_days(saturday, 0) == saturday


def test_it_refuses_negative_days() -> None:
    with pytest.raises(ValueError, match="-1"):
        add_business_days(date(2025, 11, 19), -1)


def test_it_keeps_a_datetimes_wall_clock_time_and_zone_across_dst() -> None:
    # Received Friday 31 Oct 2025 09:15 EDT; clocks go back on 2 Nov; Veterans Day is skipped.
    received = datetime(2025, 10, 31, 9, 15, tzinfo=NEW_YORK)
    deadline = add_business_days(received, 10)
    assert deadline == datetime(2025, 11, 17, 9, 15, tzinfo=NEW_YORK)
    assert deadline.tzinfo is NEW_YORK
    assert deadline.utcoffset() == timedelta(hours=-5)
    assert type(deadline) is datetime


def test_it_returns_a_date_for_a_date() -> None:
    assert type(add_business_days(date(2025, 11, 19), 10)) is date
