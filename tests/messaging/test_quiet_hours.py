"""Quiet hours and frequency caps (docs/rules.md), `messaging.sending_rules`.

Most tests use the rules seeded by migration 0002 (`RuleBook.from_db()`); a few build a rulebook
from plain `Rule` values to reach a case the seeded rules cannot show (a DST edge at 2:30).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import phonenumbers
import pytest
from phonenumbers import PhoneNumber, PhoneNumberFormat
from phonenumbers.geocoder import description_for_number
from phonenumbers.timezone import time_zones_for_geographical_number, time_zones_for_number
from phonenumbers.tzdata import TIMEZONE_DATA

from consent.models import Contact, MessageType
from messaging.models import MessageKind, MessageStatus, OutboundMessage
from messaging.sending_rules import (
    NoAllowedWindow,
    Rule,
    RuleBook,
    frequency_cap,
    frequency_hold_until,
    is_allowed,
    is_allowed_for,
    next_allowed_at,
    next_allowed_at_for,
    recipient_jurisdictions,
    recipient_time_zones,
)
from messaging.timezones import CONTINENTAL_US_ZONES, state_for_description
from tests.factories import create_contact, create_program

EASTERN = ZoneInfo("America/New_York")
CENTRAL = ZoneInfo("America/Chicago")
PACIFIC = ZoneInfo("America/Los_Angeles")
US_ONLY = frozenset({"US"})
NEW_YORK = frozenset({"America/New_York"})


def local(zone: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=zone)


@pytest.fixture
def rulebook(db) -> RuleBook:
    return RuleBook.from_db()


@pytest.fixture
def marketing(db):
    return create_program("deals", message_type=MessageType.MARKETING)


# --- named cases -------------------------------------------------------------------------------


def test_it_holds_a_florida_contact_at_2030_eastern_until_8_next_morning(rulebook, marketing):
    contact = create_contact("+13055550101", state="FL", time_zone="America/New_York")
    now = local(EASTERN, 2026, 3, 10, 20, 30)

    assert next_allowed_at(contact, marketing, now, rulebook) == local(EASTERN, 2026, 3, 11, 8, 0)
    assert is_allowed(contact, marketing, local(EASTERN, 2026, 3, 10, 19, 59), rulebook)


def test_it_holds_texas_on_sunday_morning_until_noon(rulebook, marketing):
    contact = create_contact("+12145550102", state="TX", time_zone="America/Chicago")
    sunday = local(CENTRAL, 2025, 9, 7, 10, 0)

    assert next_allowed_at(contact, marketing, sunday, rulebook) == local(CENTRAL, 2025, 9, 7, 12)
    monday = local(CENTRAL, 2025, 9, 8, 8, 30)
    assert next_allowed_at(contact, marketing, monday, rulebook) == local(CENTRAL, 2025, 9, 8, 9)


def test_it_holds_connecticut_at_830_until_9(rulebook, marketing):
    contact = create_contact("+12035550103", state="CT")
    now = local(EASTERN, 2026, 2, 10, 8, 30)

    assert recipient_time_zones(contact) == NEW_YORK
    assert next_allowed_at(contact, marketing, now, rulebook) == local(EASTERN, 2026, 2, 10, 9)


def test_it_treats_an_austin_number_without_address_as_texan(rulebook, marketing):
    contact = create_contact("+15125550104")

    assert recipient_jurisdictions(contact) == {"US", "TX"}
    assert recipient_time_zones(contact) == {"America/Chicago"}
    sunday = local(CENTRAL, 2026, 1, 11, 10, 0)
    assert next_allowed_at(contact, marketing, sunday, rulebook) == local(CENTRAL, 2026, 1, 11, 12)


def test_it_follows_only_the_contacts_own_time_zone(rulebook, marketing):
    contact = create_contact("+12125550105", time_zone="America/Los_Angeles")

    assert recipient_time_zones(contact) == {"America/Los_Angeles"}
    # 21:30 in New York is 18:30 where the person said they live.
    assert is_allowed(contact, marketing, local(EASTERN, 2026, 2, 10, 21, 30), rulebook)
    early = local(PACIFIC, 2026, 2, 10, 7, 30)
    assert next_allowed_at(contact, marketing, early, rulebook) == local(PACIFIC, 2026, 2, 10, 8)


def test_it_waits_for_both_zones_of_a_state_that_spans_two(rulebook, marketing):
    contact = create_contact("+13055550106", state="FL")

    assert recipient_time_zones(contact) == {"America/New_York", "America/Chicago"}
    # 20:30 Eastern: Eastern is closed; at 8:00 Eastern it is 7:00 Central, so 8:00 Central.
    now = local(EASTERN, 2026, 3, 10, 20, 30)
    assert next_allowed_at(contact, marketing, now, rulebook) == local(CENTRAL, 2026, 3, 11, 8)


def test_it_takes_every_zone_of_an_area_code_that_spans_two(db):
    contact = create_contact("+18505550107")

    assert recipient_time_zones(contact) == {"America/New_York", "America/Chicago"}
    assert recipient_jurisdictions(contact) == {"US", "FL"}


def test_it_reads_the_state_from_a_zip_code(db):
    contact = create_contact("+447911123456", postal_code="78701-1234")

    assert recipient_jurisdictions(contact) == {"US", "TX"}
    assert recipient_time_zones(contact) == {"America/Chicago", "America/Denver"}


def test_it_falls_back_to_every_continental_zone_when_nothing_is_known(rulebook, marketing):
    contact = create_contact("+447911123457", time_zone="Not/AZone")

    assert recipient_time_zones(contact) == CONTINENTAL_US_ZONES
    assert recipient_jurisdictions(contact) == US_ONLY
    # 8:00 Eastern is 5:00 Pacific: wait for 8:00 Pacific.
    now = local(EASTERN, 2026, 2, 10, 8, 0)
    assert next_allowed_at(contact, marketing, now, rulebook) == local(PACIFIC, 2026, 2, 10, 8)


# --- DST -------------------------------------------------------------------------------------


def test_it_uses_the_new_offset_on_the_spring_forward_day(rulebook):
    # 2026-03-08: at 2:00 EST clocks jump to 3:00 EDT. 8:00 is 12:00 UTC that day, 13:00 before.
    def at(*args: int) -> datetime:
        now = datetime(*args, tzinfo=UTC)
        return next_allowed_at_for(NEW_YORK, US_ONLY, "marketing", False, now, rulebook)

    assert at(2026, 3, 7, 10) == datetime(2026, 3, 7, 13, tzinfo=UTC)
    assert at(2026, 3, 8, 10) == datetime(2026, 3, 8, 12, tzinfo=UTC)
    # 21:00 EDT is 01:00 UTC the next day.
    assert at(2026, 3, 9, 0, 59) == datetime(2026, 3, 9, 0, 59, tzinfo=UTC)
    assert at(2026, 3, 9, 1, 0) == datetime(2026, 3, 9, 12, tzinfo=UTC)


def test_it_uses_the_old_offset_again_on_the_fall_back_day(rulebook):
    # 2026-11-01: at 2:00 EDT clocks go back to 1:00 EST. 8:00 is 13:00 UTC that day.
    def at(*args: int) -> datetime:
        now = datetime(*args, tzinfo=UTC)
        return next_allowed_at_for(NEW_YORK, US_ONLY, "marketing", False, now, rulebook)

    assert at(2026, 10, 31, 10) == datetime(2026, 10, 31, 12, tzinfo=UTC)
    assert at(2026, 11, 1, 10) == datetime(2026, 11, 1, 13, tzinfo=UTC)
    assert at(2026, 11, 2, 1, 59) == datetime(2026, 11, 2, 1, 59, tzinfo=UTC)  # 20:59 EST
    assert at(2026, 11, 2, 2, 0) == datetime(2026, 11, 2, 13, tzinfo=UTC)


def test_it_opens_a_window_whose_start_is_skipped_at_the_jump():
    book = RuleBook([Rule("US", time(2, 30), time(23))])
    now = datetime(2026, 3, 8, 6, 0, tzinfo=UTC)  # 1:00 EST; 2:30 never happens that night

    assert next_allowed_at_for(NEW_YORK, US_ONLY, "marketing", False, now, book) == datetime(
        2026, 3, 8, 7, 0, tzinfo=UTC
    )  # 3:00 EDT, the first moment the clock reads 2:30 or later


def test_it_takes_the_narrower_reading_of_a_window_edge_in_the_repeated_hour():
    opens_at_130 = RuleBook([Rule("US", time(1, 30), time(23))])
    closes_at_130 = RuleBook([Rule("US", time(0, 0), time(1, 30))])
    first_0100 = datetime(2026, 11, 1, 5, 0, tzinfo=UTC)  # 1:00 EDT; 1:00 EST is 06:00 UTC

    # Opens at the second 1:30 (EST), not the first (EDT, 05:30 UTC).
    assert next_allowed_at_for(
        NEW_YORK, US_ONLY, "marketing", False, first_0100, opens_at_130
    ) == datetime(2026, 11, 1, 6, 30, tzinfo=UTC)
    # Closes at the first 1:30: the repeated 1:10 EST stays closed until midnight.
    second_0110 = datetime(2026, 11, 1, 6, 10, tzinfo=UTC)
    assert next_allowed_at_for(
        NEW_YORK, US_ONLY, "marketing", False, second_0110, closes_at_130
    ) == local(EASTERN, 2026, 11, 2, 0, 0)


# --- effective dates, exemptions, holidays -------------------------------------------------------


def test_it_applies_texas_sunday_rule_from_its_effective_date(rulebook, marketing):
    contact = create_contact("+12145550108", state="TX", time_zone="America/Chicago")
    before = local(CENTRAL, 2025, 8, 31, 10, 0)  # the last Sunday before SB 140

    assert next_allowed_at(contact, marketing, before, rulebook) == before


def test_it_applies_a_rule_from_its_effective_date_on_the_recipients_local_date():
    # The seeded Virginia window equals the federal one, so a stricter VA window makes the
    # start date (2026-01-01) visible.
    book = RuleBook(
        [
            Rule("US", time(8), time(21)),
            Rule("VA", time(8), time(20), effective_from=date(2026, 1, 1)),
        ]
    )
    virginia = frozenset({"US", "VA"})
    # 20:30 on 31 December in Virginia, already 1 January in UTC: the rule is not yet law.
    new_years_eve = local(EASTERN, 2025, 12, 31, 20, 30)
    assert new_years_eve.astimezone(UTC).date() == date(2026, 1, 1)
    assert is_allowed_for(NEW_YORK, virginia, "marketing", False, new_years_eve, book)
    new_years_day = local(EASTERN, 2026, 1, 1, 20, 30)
    assert next_allowed_at_for(
        NEW_YORK, virginia, "marketing", False, new_years_day, book
    ) == local(EASTERN, 2026, 1, 2, 8, 0)


def test_it_exempts_only_exempt_non_marketing_programs(rulebook):
    exempt = create_program(
        "reminders", message_type=MessageType.TRANSACTIONAL, quiet_hours_exempt=True
    )
    not_exempt = create_program("receipts", message_type=MessageType.TRANSACTIONAL)
    care = create_program("care", message_type=MessageType.CUSTOMER_CARE, quiet_hours_exempt=True)
    marketing = create_program("deals", message_type=MessageType.MARKETING)
    contact = create_contact("+13055550109", state="FL", time_zone="America/New_York")
    night = local(EASTERN, 2026, 2, 10, 23, 0)

    assert next_allowed_at(contact, exempt, night, rulebook) == night
    assert next_allowed_at(contact, care, night, rulebook) == night
    morning = local(EASTERN, 2026, 2, 11, 8, 0)
    assert next_allowed_at(contact, not_exempt, night, rulebook) == morning
    assert next_allowed_at(contact, marketing, night, rulebook) == morning
    # Marketing is never exempt, whatever the flag says.
    jurisdictions = frozenset({"US", "FL"})
    held = next_allowed_at_for(NEW_YORK, jurisdictions, "marketing", True, night, rulebook)
    assert held == morning


def test_it_holds_exempt_programs_under_a_rule_that_is_not_marketing_only():
    book = RuleBook([Rule("US", time(7), time(22), marketing_only=False)])
    night = local(EASTERN, 2026, 2, 10, 23, 0)

    assert next_allowed_at_for(NEW_YORK, US_ONLY, "transactional", True, night, book) == local(
        EASTERN, 2026, 2, 11, 7, 0
    )


def test_it_holds_a_no_holidays_state_on_independence_day(rulebook, marketing):
    alabama = create_contact("+12055550110", state="AL", time_zone="America/Chicago")
    georgia = create_contact("+14045550111", state="GA", time_zone="America/New_York")
    friday_july_4 = local(CENTRAL, 2025, 7, 4, 10, 0)

    assert next_allowed_at(alabama, marketing, friday_july_4, rulebook) == local(
        CENTRAL, 2025, 7, 5, 8, 0
    )
    assert is_allowed(georgia, marketing, friday_july_4, rulebook)
    # 2026: July 4 is a Saturday, observed Friday July 3; both are held, then Sunday (no_sundays).
    observed = local(CENTRAL, 2026, 7, 3, 10, 0)
    assert next_allowed_at(alabama, marketing, observed, rulebook) == local(
        CENTRAL, 2026, 7, 6, 8, 0
    )


def test_it_refuses_naive_times_and_reports_when_nothing_is_allowed():
    book = RuleBook([Rule("US", time(8), time(9))])
    # 8-9 in Guam is 22-23 UTC, in Honolulu 18-19 UTC: never both.
    apart = frozenset({"Pacific/Guam", "Pacific/Honolulu"})
    now = datetime(2026, 2, 10, 12, tzinfo=UTC)

    with pytest.raises(NoAllowedWindow):
        next_allowed_at_for(apart, US_ONLY, "marketing", False, now, book)
    assert not is_allowed_for(apart, US_ONLY, "marketing", False, now, book)
    with pytest.raises(ValueError, match="aware"):
        next_allowed_at_for(NEW_YORK, US_ONLY, "marketing", False, datetime(2026, 2, 10), book)


# --- frequency caps --------------------------------------------------------------------------


def _message(contact, program, status: str, sent_at: datetime | None, **fields) -> None:
    handed_off = status in ("sent", "delivered", "undelivered")
    OutboundMessage.objects.create(
        contact=contact,
        to=contact.phone,
        program=program,
        message_type=program.message_type,
        kind=MessageKind.CAMPAIGN,
        body="Acme: 20% off. Reply STOP to opt out",
        status=status,
        sent_at=sent_at,
        provider_sid=f"SM{OutboundMessage.objects.count():032d}" if handed_off else None,
        **fields,
    )


def test_it_holds_the_fourth_florida_marketing_message_until_the_first_ages_out(
    rulebook, marketing
):
    florida = create_contact("+13055550112", state="FL")
    other = create_program("news", message_type=MessageType.MARKETING)
    now = datetime(2026, 2, 10, 15, tzinfo=UTC)
    first = now - timedelta(hours=20)
    _message(florida, marketing, MessageStatus.DELIVERED, first)
    _message(florida, marketing, MessageStatus.UNDELIVERED, now - timedelta(hours=10))
    # None of these count: too old, never handed off, another program.
    _message(florida, marketing, MessageStatus.DELIVERED, now - timedelta(hours=25))
    _message(florida, marketing, MessageStatus.FAILED, now - timedelta(hours=2))
    _message(florida, marketing, MessageStatus.BLOCKED, None, reason="no_consent")
    _message(florida, other, MessageStatus.SENT, now - timedelta(hours=3))
    pair = (florida.pk, marketing.pk)
    cap = frequency_cap(florida, marketing, now, rulebook)

    assert cap == 3
    assert frequency_hold_until({pair: cap}, now) == {}
    _message(florida, marketing, MessageStatus.SENT, now - timedelta(hours=1))
    assert frequency_hold_until({pair: cap}, now) == {pair: first + timedelta(hours=24)}


def test_it_counts_a_message_being_handed_over_and_skips_uncapped_pairs(rulebook, marketing):
    florida = create_contact("+13055550113", state="FL")
    now = datetime(2026, 2, 10, 15, tzinfo=UTC)
    _message(florida, marketing, MessageStatus.SENT, now - timedelta(hours=5))
    _message(florida, marketing, MessageStatus.SENT, now - timedelta(hours=4))
    _message(
        florida, marketing, MessageStatus.SENDING, None, lease_expires_at=now + timedelta(minutes=1)
    )
    pair = (florida.pk, marketing.pk)

    assert frequency_hold_until({pair: 3}, now) == {pair: now + timedelta(hours=19)}
    assert frequency_hold_until({pair: 4}, now) == {}
    assert frequency_hold_until({pair: None}, now) == {}


def test_it_adds_the_global_marketing_cap_from_settings(settings, marketing):
    settings.SMS_GLOBAL_MARKETING_CAP_24H = 2
    book = RuleBook.from_db()
    new_york = create_contact("+12125550114", state="NY")
    florida = create_contact("+13055550115", state="FL")
    receipts = create_program("receipts", message_type=MessageType.TRANSACTIONAL)
    now = datetime(2026, 2, 10, 15, tzinfo=UTC)

    assert frequency_cap(new_york, marketing, now, book) == 2
    assert frequency_cap(florida, marketing, now, book) == 2
    assert frequency_cap(new_york, receipts, now, book) is None
    settings.SMS_GLOBAL_MARKETING_CAP_24H = None  # the declared default: no cap
    assert frequency_cap(florida, marketing, now, RuleBook.from_db()) == 3
    assert frequency_cap(new_york, marketing, now, RuleBook.from_db()) is None


# --- acceptance: every US area code, every hour of a summer and a winter day --------------------

# docs/rules.md#quiet-hours-and-frequency-caps written out again, independently of the seed:
# (start, end, sunday start, no Sundays, no holidays). All are in effect on the days below.
FEDERAL = (8, 21, None, False, False)
STATE_WINDOWS = {
    "FL": (8, 20, None, False, False),
    "OK": (8, 20, None, False, False),
    "MD": (8, 20, None, False, False),
    "CT": (9, 20, None, False, False),
    "TX": (9, 21, 12, False, False),
    "WA": (8, 20, None, False, False),
    "VA": (8, 21, None, False, False),
    "AL": (8, 20, None, True, True),
    "LA": (8, 20, None, True, True),
    "KY": (10, 21, None, False, False),
    "MA": (8, 20, None, False, False),
    "MI": (9, 21, None, False, False),
    "MN": (9, 21, None, False, False),
    "NM": (9, 21, None, False, False),
    "MS": (8, 20, None, True, False),
    "NV": (9, 20, None, False, False),
}
# Federal holidays within 14 days of the test days (July 4 2026 is a Saturday, observed the 3rd).
HOLIDAYS = {date(2026, 1, 19), date(2026, 7, 3), date(2026, 7, 4)}
TEST_DAYS = (date(2026, 1, 18), date(2026, 7, 4))  # a winter Sunday; a summer holiday Saturday


def us_geographic_area_codes() -> dict[str, PhoneNumber]:
    """Every geographic US area code phonenumbers knows, each with one valid number in it.

    Candidates are the area codes under country code 1 in phonenumbers' time-zone prefix table;
    an area code is kept when a number in it (an exchange named in the table, else the first
    exchange that validates) is valid, belongs to region "US" (the 50 states and DC; Canada,
    the Caribbean and the territories have their own regions) and is geographical (not toll
    free, premium or personal). phonenumbers 9.0 gives 359.
    """
    exchanges: dict[str, list[str]] = {}
    for prefix in TIMEZONE_DATA:
        if prefix.startswith("1") and len(prefix) >= 4:
            exchanges.setdefault(prefix[1:4], []).append(prefix[4:7])
    found = {}
    for npa, known in sorted(exchanges.items()):
        candidates = [x for x in sorted(known) if len(x) == 3] + [str(n) for n in range(200, 1000)]
        for nxx in candidates:
            number = PhoneNumber(country_code=1, national_number=int(f"{npa}{nxx}0123"))
            if phonenumbers.is_valid_number(number):
                if phonenumbers.region_code_for_number(
                    number
                ) == "US" and phonenumbers.is_number_geographical(number):
                    found[npa] = number
                break
    return found


def zones_of_area_code(npa: str) -> set[str]:
    """What `time_zones_for_number` says for any number under the area code, every prefix."""
    zones = set()
    for prefix in TIMEZONE_DATA:
        if prefix.startswith("1" + npa):
            national = int(prefix[1:].ljust(10, "0"))
            zones.update(time_zones_for_geographical_number(PhoneNumber(1, national)))
    return zones


def allowed(moment: datetime, zones: set[str], states: set[str]) -> bool:
    for name in zones:
        wall = moment.astimezone(ZoneInfo(name))
        day, clock = wall.date(), wall.time()
        for state in ("US", *states):
            window = FEDERAL if state == "US" else STATE_WINDOWS.get(state)
            if window is None:
                continue
            start, end, sunday_start, no_sundays, no_holidays = window
            sunday = day.weekday() == 6
            if (no_sundays and sunday) or (no_holidays and day in HOLIDAYS):
                return False
            opens = sunday_start if sunday and sunday_start else start
            if not time(opens) <= clock < time(end):
                return False
    return True


def test_it_never_returns_a_time_outside_any_window_for_any_us_area_code(rulebook):
    area_codes = us_geographic_area_codes()
    assert len(area_codes) >= 330, "the enumeration lost most area codes"
    checked = 0
    for npa, number in area_codes.items():
        zones = zones_of_area_code(npa)
        assert set(time_zones_for_number(number)) <= zones
        state = state_for_description(description_for_number(number, "en"))
        assert state, f"{npa}: no US state in {description_for_number(number, 'en')!r}"
        # A contact known only by this number (unsaved: the policy needs no database row).
        contact = Contact(phone=phonenumbers.format_number(number, PhoneNumberFormat.E164))
        contact_zones = recipient_time_zones(contact)
        jurisdictions = recipient_jurisdictions(contact)
        assert contact_zones == zones
        assert state in jurisdictions
        for day in TEST_DAYS:
            for hour in range(24):
                now = datetime(day.year, day.month, day.day, hour, 7, tzinfo=UTC)
                when = next_allowed_at_for(
                    contact_zones, jurisdictions, "marketing", False, now, rulebook
                )
                assert when >= now
                assert allowed(when, zones, {state}), f"{npa} ({state}) at {now}: {when}"
                if when > now:  # and it is the earliest: a second before is not allowed
                    earlier = when - timedelta(seconds=1)
                    assert not allowed(earlier, zones, {state}), f"{npa} at {now}: {when}"
                checked += 1
    assert checked == len(area_codes) * 48
