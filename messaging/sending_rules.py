"""When a message may reach its recipient: quiet hours and frequency caps (docs/rules.md).

Dispatch asks this for every message right before hand-off, thousands of times a second, so the
active rules are read once per batch into a `RuleBook` and everything else is a pure function of
(recipient, program, now, rulebook)::

    rulebook = RuleBook.from_db()                                  # once per batch
    when = next_allowed_at(contact, program, now, rulebook)        # `now` itself: send now
    holds = frequency_hold_until({(contact.pk, program.pk): frequency_cap(...)}, now)

Where the recipient is (`recipient_time_zones`) and whose law covers them
(`recipient_jurisdictions`) are presumptions, so both are unions: a moment is allowed only when
every applicable rule allows it in **every** one of the recipient's zones, each rule judged on
that zone's local date. The `*_for` variants take plain values, for callers without a `Contact`.

A rule applies when its jurisdiction is one of the recipient's, it is in effect on the local date
(`effective_from` inclusive, `effective_to` exclusive), and it covers the program: rules that are
not `marketing_only` cover every program; marketing-only rules cover marketing always and other
programs unless they are `quiet_hours_exempt` (the database forbids exempt marketing programs,
and the `*_for` variants ignore `exempt` for marketing too).

DST: a window edge in a spring-forward gap is the instant the clock jumps past it; an edge in a
fall-back fold opens the window at its later instant and closes it at its earlier one. Either way
the computed window never exceeds the law's. (No seeded rule has an edge between 1:00 and 3:00.)
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import DateTimeField, F, Q, Value, Window
from django.db.models.functions import Coalesce, RowNumber

from config.lib.business_days import JUNETEENTH_FROM, us_federal_holidays
from consent.models import Contact, MessageType, Program

from .models import MessageStatus, OutboundMessage, QuietHoursRule
from .timezones import (
    CONTINENTAL_US_ZONES,
    STATE_ZONES,
    area_code_for_phone,
    is_known_zone,
    zip_state,
)

__all__ = [
    "COUNTED_STATUSES",
    "NoAllowedWindow",
    "Rule",
    "RuleBook",
    "frequency_cap",
    "frequency_cap_for",
    "frequency_hold_until",
    "is_allowed",
    "is_allowed_for",
    "next_allowed_at",
    "next_allowed_at_for",
    "recipient_jurisdictions",
    "recipient_time_zones",
]

#: How far ahead `next_allowed_at` looks before giving up.
SEARCH_DAYS = 14
CAP_WINDOW = timedelta(hours=24)
#: Messages handed to the provider (or being handed over right now) count towards a cap.
COUNTED_STATUSES = (
    MessageStatus.SENDING,
    MessageStatus.SENT,
    MessageStatus.DELIVERED,
    MessageStatus.UNDELIVERED,
)
_DAY_SECONDS = 86_400
_SUNDAY = 6
# Holidays that fall on a fixed date; the others are always a Monday or a Thursday.
_FIXED_DATE_HOLIDAYS = ((1, 1), (7, 4), (11, 11), (12, 25))


class NoAllowedWindow(Exception):
    """No moment in the next `SEARCH_DAYS` days is allowed in all of the recipient's zones."""


@lru_cache(maxsize=64)
def _holidays(year: int) -> frozenset[date]:
    """Federal holidays of `year`: the day each falls on *and* the weekday it is observed.

    A `no_holidays` rule is about the day itself (Independence Day on a Saturday is still
    Independence Day), while offices close on the observed Friday; we keep both, the stricter.
    """
    days = set(us_federal_holidays(year))
    days.update(date(year, month, day) for month, day in _FIXED_DATE_HOLIDAYS)
    if year >= JUNETEENTH_FROM:
        days.add(date(year, 6, 19))
    return frozenset(days)


@dataclass(frozen=True, slots=True)
class Rule:
    """One quiet-hours rule as plain values: a `QuietHoursRule` row detached from the ORM.

    Times are the recipient's local wall time; `end` is exclusive.
    """

    jurisdiction: str
    start: time
    end: time
    sunday_start: time | None = None
    no_sundays: bool = False
    no_holidays: bool = False
    marketing_only: bool = True
    frequency_cap_24h: int | None = None
    effective_from: date = date.min
    effective_to: date | None = None

    @classmethod
    def from_model(cls, row: QuietHoursRule) -> Rule:
        return cls(
            jurisdiction=row.jurisdiction.upper(),
            start=row.start,
            end=row.end,
            sunday_start=row.sunday_start,
            no_sundays=row.no_sundays,
            no_holidays=row.no_holidays,
            marketing_only=row.marketing_only,
            frequency_cap_24h=row.frequency_cap_24h,
            effective_from=row.effective_from,
            effective_to=row.effective_to,
        )

    def in_effect(self, day: date) -> bool:
        """Whether the rule is law on the local date `day`."""
        return self.effective_from <= day and (self.effective_to is None or day < self.effective_to)

    def window(self, day: date) -> tuple[time, time] | None:
        """The local [start, end) this rule allows on `day`; None when it allows nothing."""
        sunday = day.weekday() == _SUNDAY
        if (self.no_sundays and sunday) or (self.no_holidays and day in _holidays(day.year)):
            return None
        return (self.sunday_start if sunday and self.sunday_start else self.start), self.end


# Schedules: the allowed UTC intervals (as timestamps) over the search horizon, sorted and
# disjoint, as two parallel lists so a lookup is one bisect.
_Schedule = tuple[list[float], list[float]]


class RuleBook:
    """The active rules (and the global marketing cap) for one dispatch batch, plus caches.

    Build it once per batch with `from_db()` so that rule edits in the admin take effect at the
    next batch; the caches (applicable rules per jurisdiction set, allowed schedules per zone
    set and UTC day) live on the instance and are bounded. Safe to share between threads.
    """

    _CACHE_LIMIT = 20_000

    def __init__(self, rules: Iterable[Rule], *, global_marketing_cap: int | None = None) -> None:
        self.rules: tuple[Rule, ...] = tuple(rules)
        self.global_marketing_cap = global_marketing_cap
        self._applicable: dict[tuple[frozenset[str], bool], tuple[Rule, ...]] = {}
        self._schedules: dict[tuple[frozenset[str], frozenset[str], bool, int], _Schedule] = {}

    @classmethod
    def from_db(cls) -> RuleBook:
        """Active `QuietHoursRule` rows and `settings.SMS_GLOBAL_MARKETING_CAP_24H` (optional)."""
        rows = QuietHoursRule.objects.filter(active=True)
        return cls(
            (Rule.from_model(row) for row in rows),
            global_marketing_cap=settings.SMS_GLOBAL_MARKETING_CAP_24H,
        )

    def applicable(
        self, jurisdictions: frozenset[str], message_type: str, exempt: bool
    ) -> tuple[Rule, ...]:
        """Rules of these jurisdictions that cover this kind of program, on any date."""
        return self._rules(jurisdictions, _covered(message_type, exempt))

    def _rules(self, jurisdictions: frozenset[str], covered: bool) -> tuple[Rule, ...]:
        key = (jurisdictions, covered)
        rules = self._applicable.get(key)
        if rules is None:
            rules = tuple(
                rule
                for rule in self.rules
                if rule.jurisdiction in jurisdictions and (covered or not rule.marketing_only)
            )
            self._applicable[key] = rules
        return rules

    def _schedule(
        self, zones: frozenset[str], jurisdictions: frozenset[str], covered: bool, day: int
    ) -> _Schedule:
        key = (zones, jurisdictions, covered, day)
        schedule = self._schedules.get(key)
        if schedule is None:
            if len(self._schedules) >= self._CACHE_LIMIT:
                self._schedules.clear()
            rules = self._rules(jurisdictions, covered)
            schedule = _build_schedule(zones, rules, date.fromordinal(_EPOCH_ORDINAL + day))
            self._schedules[key] = schedule
        return schedule


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def _covered(message_type: str, exempt: bool) -> bool:
    """Whether marketing-only rules cover the program."""
    return message_type == MessageType.MARKETING or not exempt


# --- windows ---------------------------------------------------------------------------------


def _wall_instant(day: date, at: time, zone: ZoneInfo, *, opening: bool) -> int:
    """The UTC timestamp at which the clock in `zone` reaches `at` on `day`, conservatively.

    In a fold the wall time happens twice: a window opens at the later, closes at the earlier.
    In a gap it never happens: the clock passes it at the transition, whichever edge it is.
    """
    fields = (day.year, day.month, day.day, at.hour, at.minute, at.second)
    first = int(datetime(*fields, tzinfo=zone, fold=0).timestamp())
    second = int(datetime(*fields, tzinfo=zone, fold=1).timestamp())
    if first == second:
        return first
    if first < second:
        return second if opening else first
    # In a gap fold=1 reads the wall time with the new offset, which lands before the jump.
    before, after = second, first
    offset = datetime.fromtimestamp(before, zone).utcoffset()
    while after - before > 1:
        middle = (before + after) // 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == offset:
            before = middle
        else:
            after = middle
    return after


def _day_interval(zone: ZoneInfo, day: date, rules: tuple[Rule, ...]) -> tuple[int, int] | None:
    """The allowed UTC interval of local date `day` in `zone`: every rule in effect allows it."""
    start, end = time.min, None  # None: until the next midnight (no rule ends the day)
    for rule in rules:
        if not rule.in_effect(day):
            continue
        window = rule.window(day)
        if window is None:
            return None
        start = max(start, window[0])
        end = window[1] if end is None else min(end, window[1])
    if end is not None and start >= end:
        return None
    opens = _wall_instant(day, start, zone, opening=True)
    if end is None:
        closes = _wall_instant(day + timedelta(days=1), time.min, zone, opening=False)
    else:
        closes = _wall_instant(day, end, zone, opening=False)
    return (opens, closes) if opens < closes else None


def _intersect(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The intersection of two sorted lists of disjoint half-open intervals."""
    out: list[tuple[int, int]] = []
    i = j = 0
    while i < len(a) and j < len(b):
        start, end = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if start < end:
            out.append((start, end))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def _build_schedule(zones: frozenset[str], rules: tuple[Rule, ...], utc_day: date) -> _Schedule:
    # Local dates from the day before to SEARCH_DAYS + 1 after cover every offset (±14 h) for
    # any `now` on `utc_day` and the full search horizon after it.
    days = [utc_day + timedelta(days=n) for n in range(-1, SEARCH_DAYS + 2)]
    allowed: list[tuple[int, int]] | None = None
    for name in sorted(zones):
        zone = ZoneInfo(name)
        intervals = [iv for day in days if (iv := _day_interval(zone, day, rules)) is not None]
        allowed = intervals if allowed is None else _intersect(allowed, intervals)
    allowed = allowed or []
    return [float(start) for start, _ in allowed], [float(end) for _, end in allowed]


def next_allowed_at_for(
    zones: frozenset[str],
    jurisdictions: frozenset[str],
    message_type: str,
    exempt: bool,
    now: datetime,
    rulebook: RuleBook,
) -> datetime:
    """`now` (the same object) when a message may go now, else the earliest allowed moment (UTC).

    `zones` are IANA names (non-empty; `recipient_time_zones` never returns an empty set),
    `jurisdictions` "US" and postal codes, `message_type` a `MessageType` value, `exempt` the
    program's `quiet_hours_exempt`. `now` must be aware. Raises `NoAllowedWindow` when the
    rules leave no moment within `SEARCH_DAYS` days, and `ValueError` for a naive `now`.
    """
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime (use django.utils.timezone.now())")
    covered = _covered(message_type, exempt)
    if not rulebook._rules(jurisdictions, covered):
        return now
    stamp = now.timestamp()
    starts, ends = rulebook._schedule(zones, jurisdictions, covered, int(stamp // _DAY_SECONDS))
    i = bisect_right(ends, stamp)
    if i == len(ends) or starts[i] > stamp + SEARCH_DAYS * _DAY_SECONDS:
        raise NoAllowedWindow(
            f"no moment in {SEARCH_DAYS} days after {now.isoformat()} is allowed in all of "
            f"{sorted(zones)} under the rules of {sorted(jurisdictions)}"
        )
    if starts[i] <= stamp:
        return now
    return datetime.fromtimestamp(starts[i], UTC)


def is_allowed_for(
    zones: frozenset[str],
    jurisdictions: frozenset[str],
    message_type: str,
    exempt: bool,
    now: datetime,
    rulebook: RuleBook,
) -> bool:
    """Whether a message may go at `now` (see `next_allowed_at_for`)."""
    try:
        return next_allowed_at_for(zones, jurisdictions, message_type, exempt, now, rulebook) <= now
    except NoAllowedWindow:
        return False


# --- the recipient ---------------------------------------------------------------------------


def _address_states(contact: Contact) -> set[str]:
    """States from the contact's address: the state field and the ZIP code's state."""
    states = set()
    state = (contact.state or "").strip().upper()
    if state in STATE_ZONES:
        states.add(state)
    if (contact.country or "US").upper() == "US" and (from_zip := zip_state(contact.postal_code)):
        states.add(from_zip)
    return states


def recipient_time_zones(contact: Contact) -> frozenset[str]:
    """The IANA zones the contact may be in; quiet hours must hold in all of them.

    The contact's own `time_zone`, when set and valid, wins alone: the person told us. Else the
    union of the zones of their address's state(s) (see `messaging.timezones.STATE_ZONES`) and of
    every zone phonenumbers knows under their number's area code. Nothing known: the whole
    continental US, the strictest guess.
    """
    own = (contact.time_zone or "").strip()
    if own and is_known_zone(own):
        return frozenset((own,))
    zones: set[str] = set()
    for state in _address_states(contact):
        zones |= STATE_ZONES[state]
    if (area := area_code_for_phone(contact.phone)) is not None:
        zones |= area.zones
    return frozenset(zones) if zones else CONTINENTAL_US_ZONES


def recipient_jurisdictions(contact: Contact) -> frozenset[str]:
    """Always "US", plus the state(s) of the contact's address and of their number's area code.

    FL, OK, CT and TX presume an in-state area code means a resident. We make that
    presumption for every state (only states with a rule change anything): presuming too much
    only delays a message, presuming too little can break a state's law.
    """
    jurisdictions = {"US", *_address_states(contact)}
    if (area := area_code_for_phone(contact.phone)) is not None:
        jurisdictions |= area.states
    return frozenset(jurisdictions)


def next_allowed_at(
    contact: Contact, program: Program, now: datetime, rulebook: RuleBook
) -> datetime:
    """`now` when `program` may message `contact` now, else the earliest allowed moment (UTC).

    See `next_allowed_at_for`; raises `NoAllowedWindow` when nothing is allowed for 14 days.
    """
    return next_allowed_at_for(
        recipient_time_zones(contact),
        recipient_jurisdictions(contact),
        program.message_type,
        program.quiet_hours_exempt,
        now,
        rulebook,
    )


def is_allowed(contact: Contact, program: Program, now: datetime, rulebook: RuleBook) -> bool:
    """Whether `program` may message `contact` at `now`."""
    return is_allowed_for(
        recipient_time_zones(contact),
        recipient_jurisdictions(contact),
        program.message_type,
        program.quiet_hours_exempt,
        now,
        rulebook,
    )


# --- frequency caps --------------------------------------------------------------------------


def frequency_cap_for(
    zones: frozenset[str],
    jurisdictions: frozenset[str],
    message_type: str,
    exempt: bool,
    now: datetime,
    rulebook: RuleBook,
) -> int | None:
    """The most messages per recipient and program in a rolling 24 h; None when uncapped.

    The smallest `frequency_cap_24h` among the applicable rules in effect on the recipient's
    local date in any of their zones, and for marketing the rulebook's global marketing cap.
    """
    days = {now.astimezone(ZoneInfo(name)).date() for name in zones}
    caps = [
        rule.frequency_cap_24h
        for rule in rulebook.applicable(jurisdictions, message_type, exempt)
        if rule.frequency_cap_24h is not None and any(rule.in_effect(day) for day in days)
    ]
    if message_type == MessageType.MARKETING and rulebook.global_marketing_cap is not None:
        caps.append(rulebook.global_marketing_cap)
    return min(caps, default=None)


def frequency_cap(
    contact: Contact, program: Program, now: datetime, rulebook: RuleBook
) -> int | None:
    """`frequency_cap_for` for a contact and program."""
    return frequency_cap_for(
        recipient_time_zones(contact),
        recipient_jurisdictions(contact),
        program.message_type,
        program.quiet_hours_exempt,
        now,
        rulebook,
    )


def frequency_hold_until(
    contact_ids_programs: Mapping[tuple[int, int], int | None], now: datetime
) -> dict[tuple[int, int], datetime]:
    """For each (contact_id, program_id) at or over its cap, when the next message may go.

    Takes each pair's cap (from `frequency_cap`; None means uncapped and is skipped) and runs
    one query. What counts: every message of that contact and program, from any sender and of
    any kind, that was handed to the provider in the 24 hours before `now` (`sent_at`), that
    is status sending, sent, delivered or undelivered; a `sending` message without `sent_at`
    yet counts as sent at `now`. Failed, blocked, held and cancelled messages do not count.

    A pair is at its cap when its cap-th most recent counted message exists; it may send again
    when that message leaves the window: `its sent_at + 24 h`. A cap of 0 holds a pair for a
    full window from `now` (re-evaluated then). Pairs under their cap are absent.
    """
    caps = {pair: cap for pair, cap in contact_ids_programs.items() if cap is not None}
    result = {pair: now + CAP_WINDOW for pair, cap in caps.items() if cap < 1}
    caps = {pair: cap for pair, cap in caps.items() if cap >= 1}
    if not caps:
        return result
    counted_at = Coalesce("sent_at", Value(now, output_field=DateTimeField()))
    rows = (
        OutboundMessage.objects.filter(
            contact_id__in={contact_id for contact_id, _ in caps},
            program_id__in={program_id for _, program_id in caps},
            status__in=COUNTED_STATUSES,
        )
        .filter(
            Q(sent_at__gte=now - CAP_WINDOW) | Q(sent_at__isnull=True, status=MessageStatus.SENDING)
        )
        .annotate(
            counted_at=counted_at,
            rank=Window(
                RowNumber(),
                partition_by=[F("contact_id"), F("program_id")],
                order_by=[counted_at.desc(), F("id").desc()],
            ),
        )
        .filter(rank__lte=max(caps.values()))
        .order_by()
        .values_list("contact_id", "program_id", "counted_at", "rank")
    )
    for contact_id, program_id, at, rank in rows:
        if caps.get((contact_id, program_id)) == rank:
            result[(contact_id, program_id)] = at + CAP_WINDOW
    return result
