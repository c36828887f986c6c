"""US federal holidays and business-day arithmetic, for the deadline to honour a revocation.

The FCC allows at most **10 business days** from receipt to honour a revocation
(docs/rules.md#revocation; the number itself is a compliance setting, passed in by the
caller). Here a *business day* is a Monday to Friday that is not a federal holiday.

Federal holidays are the 11 legal public holidays of 5 U.S.C. 6103(a), on the days OPM observes
them: a holiday falling on a Saturday is observed the Friday before, on a Sunday the Monday after.
So New Year's Day 2028 (a Saturday) is observed on Friday 31 December 2027, and belongs to 2027.
Not included: Inauguration Day (only for the Washington, D.C. area) and one-off closures by
executive order (e.g. 24 and 26 December 2025). Counting those as business days gives an earlier
deadline, which errs on the consumer's side.

Pure Python; no database, no settings, no time zone guessing: a ``datetime`` is counted on its own
calendar date, so convert it to the time zone that defines the business day before calling.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import overload

__all__ = ["add_business_days", "is_business_day", "us_federal_holidays"]

# Martin Luther King Jr. Day was first observed in 1986; the other Monday holidays date from 1971.
FIRST_SUPPORTED_YEAR = 1986
# Juneteenth National Independence Day Act, signed 17 June 2021 and observed that same year.
JUNETEENTH_FROM = 2021


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """The ``n``-th ``weekday`` (0 = Monday) of a month; ``n = -1`` means the last one."""
    days = [
        day
        for day in calendar.Calendar().itermonthdates(year, month)
        if day.month == month and day.weekday() == weekday
    ]
    return days[n - 1] if n > 0 else days[n]


def _legal_holidays(year: int) -> list[date]:
    """The holidays of 5 U.S.C. 6103(a) on their nominal dates, weekends included."""
    holidays = [
        date(year, 1, 1),  # New Year's Day
        _nth_weekday(year, 1, calendar.MONDAY, 3),  # Birthday of Martin Luther King, Jr.
        _nth_weekday(year, 2, calendar.MONDAY, 3),  # Washington's Birthday
        _nth_weekday(year, 5, calendar.MONDAY, -1),  # Memorial Day
        date(year, 7, 4),  # Independence Day
        _nth_weekday(year, 9, calendar.MONDAY, 1),  # Labor Day
        _nth_weekday(year, 10, calendar.MONDAY, 2),  # Columbus Day
        date(year, 11, 11),  # Veterans Day
        _nth_weekday(year, 11, calendar.THURSDAY, 4),  # Thanksgiving Day
        date(year, 12, 25),  # Christmas Day
    ]
    if year >= JUNETEENTH_FROM:
        holidays.append(date(year, 6, 19))  # Juneteenth National Independence Day
    return holidays


def _observed(day: date) -> date:
    if day.weekday() == calendar.SATURDAY:
        return day - timedelta(days=1)
    if day.weekday() == calendar.SUNDAY:
        return day + timedelta(days=1)
    return day


@lru_cache(maxsize=64)
def _observed_holidays(year: int) -> frozenset[date]:
    if year < FIRST_SUPPORTED_YEAR:
        raise ValueError(f"federal holidays are computed from {FIRST_SUPPORTED_YEAR}, not {year}")
    # Next year's New Year's Day is observed in this year when it falls on a Saturday.
    candidates = [*_legal_holidays(year), date(year + 1, 1, 1)]
    return frozenset(d for day in candidates if (d := _observed(day)).year == year)


def us_federal_holidays(year: int) -> set[date]:
    """The weekdays of ``year`` on which federal holidays are observed (OPM's list for that year).

    Usually 11 dates; 10 when New Year's Day falls on a Saturday (observed the previous
    31 December, which then belongs to the previous year's set), 12 in that previous year.
    Raises ``ValueError`` for years before 1986.
    """
    return set(_observed_holidays(year))


def is_business_day(day: date) -> bool:
    """Monday to Friday and not an observed federal holiday."""
    return day.weekday() < calendar.SATURDAY and day not in _observed_holidays(day.year)


@overload
def add_business_days(start: datetime, days: int) -> datetime: ...
@overload
def add_business_days(start: date, days: int) -> date: ...
def add_business_days(start: date, days: int) -> date:
    """The ``days``-th business day after ``start``: the last day to act, inclusive.

    The start day itself never counts, business day or not: a revocation received on
    Wednesday 19 November 2025 has until Thursday 4 December 2025 for ``days=10`` (Thanksgiving
    skipped), and one received on a Saturday starts counting on Monday. ``days=0`` returns
    ``start`` unchanged. Negative ``days`` raise ``ValueError``.

    Returns the type it is given: a ``date`` for a ``date``; for a ``datetime``, the same
    wall-clock time and ``tzinfo`` on the deadline date (so a deadline across a DST change keeps
    its local time). Business days are counted on ``start``'s own calendar date.
    """
    if days < 0:
        raise ValueError(f"days must be zero or more, not {days}")
    first = start.date() if isinstance(start, datetime) else start
    day = first
    remaining = days
    while remaining:
        day += timedelta(days=1)
        if is_business_day(day):
            remaining -= 1
    return start + (day - first)
