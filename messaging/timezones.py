"""Where a US recipient probably is: time zones and states from an address and a phone number.

Pure lookups with no database, used by `messaging.sending_rules` to decide quiet hours. Every source
here is a presumption, so callers take the *union* of what the sources say and send only when
every zone allows it (docs/rules.md#quiet-hours-and-frequency-caps): a wrong extra zone
delays a message, a missing one could wake someone up.

- States (and DC, the territories) map to the IANA zones in use anywhere in them. One
  representative zone per distinct rule set (America/Denver for Mountain with DST, not
  America/Boise as well), so that zone sets stay small and cache well.
- ZIP codes map to a state by their first three digits (USPS prefix ranges; an unassigned
  prefix inside a range maps to that range's state, military prefixes to nothing).
- Area codes map to zones and states from phonenumbers' own prefix tables, the data behind
  `phonenumbers.timezone.time_zones_for_number` and `phonenumbers.geocoder.description_for_number`.
  We read *every* prefix under the area code, not the one for a single number, because an area
  code that spans zones (850: Eastern and Central Florida) must yield all of them.
"""

from __future__ import annotations

import re
import zoneinfo
from bisect import bisect_left
from dataclasses import dataclass
from functools import cache, lru_cache

from phonenumbers.geodata import GEOCODE_DATA
from phonenumbers.tzdata import TIMEZONE_DATA

__all__ = [
    "CONTINENTAL_US_ZONES",
    "STATE_ZONES",
    "AreaCode",
    "area_code",
    "area_code_for_phone",
    "is_known_zone",
    "state_for_description",
    "zip_state",
]

EASTERN = "America/New_York"
CENTRAL = "America/Chicago"
MOUNTAIN = "America/Denver"
ARIZONA = "America/Phoenix"  # Mountain Standard Time all year
PACIFIC = "America/Los_Angeles"
ALASKA = "America/Anchorage"
ALEUTIAN = "America/Adak"
HAWAII = "Pacific/Honolulu"

#: When nothing is known: the strictest choice, every continental zone. Arizona is left out
#: because its offset is always between Mountain's and Pacific's, so it never narrows the window.
CONTINENTAL_US_ZONES: frozenset[str] = frozenset({EASTERN, CENTRAL, MOUNTAIN, PACIFIC})

#: Every zone in official use anywhere in the state (Navajo Nation's DST in Arizona left out).
STATE_ZONES: dict[str, frozenset[str]] = {
    state: frozenset(zones)
    for state, zones in {
        "AL": (CENTRAL,),
        "AK": (ALASKA, ALEUTIAN),
        "AZ": (ARIZONA,),
        "AR": (CENTRAL,),
        "CA": (PACIFIC,),
        "CO": (MOUNTAIN,),
        "CT": (EASTERN,),
        "DE": (EASTERN,),
        "DC": (EASTERN,),
        "FL": (EASTERN, CENTRAL),  # the panhandle west of the Apalachicola is Central
        "GA": (EASTERN,),
        "HI": (HAWAII,),
        "ID": (MOUNTAIN, PACIFIC),  # north of the Salmon River is Pacific
        "IL": (CENTRAL,),
        "IN": (EASTERN, CENTRAL),  # the northwest and southwest corners are Central
        "IA": (CENTRAL,),
        "KS": (CENTRAL, MOUNTAIN),
        "KY": (EASTERN, CENTRAL),
        "LA": (CENTRAL,),
        "ME": (EASTERN,),
        "MD": (EASTERN,),
        "MA": (EASTERN,),
        "MI": (EASTERN, CENTRAL),  # four Upper Peninsula counties are Central
        "MN": (CENTRAL,),
        "MS": (CENTRAL,),
        "MO": (CENTRAL,),
        "MT": (MOUNTAIN,),
        "NE": (CENTRAL, MOUNTAIN),
        "NV": (PACIFIC, MOUNTAIN),  # West Wendover is Mountain
        "NH": (EASTERN,),
        "NJ": (EASTERN,),
        "NM": (MOUNTAIN,),
        "NY": (EASTERN,),
        "NC": (EASTERN,),
        "ND": (CENTRAL, MOUNTAIN),
        "OH": (EASTERN,),
        "OK": (CENTRAL,),
        "OR": (PACIFIC, MOUNTAIN),  # most of Malheur County is Mountain
        "PA": (EASTERN,),
        "RI": (EASTERN,),
        "SC": (EASTERN,),
        "SD": (CENTRAL, MOUNTAIN),
        "TN": (EASTERN, CENTRAL),
        "TX": (CENTRAL, MOUNTAIN),  # El Paso and Hudspeth counties are Mountain
        "UT": (MOUNTAIN,),
        "VT": (EASTERN,),
        "VA": (EASTERN,),
        "WA": (PACIFIC,),
        "WV": (EASTERN,),
        "WI": (CENTRAL,),
        "WY": (MOUNTAIN,),
        "PR": ("America/Puerto_Rico",),
        "VI": ("America/St_Thomas",),
        "GU": ("Pacific/Guam",),
        "MP": ("Pacific/Saipan",),
        "AS": ("Pacific/Pago_Pago",),
    }.items()
}

_STATE_NAMES: dict[str, str] = {
    "alabama": "AL", "alaska": "AK", "arizona": "AZ", "arkansas": "AR", "california": "CA",
    "colorado": "CO", "connecticut": "CT", "delaware": "DE", "district of columbia": "DC",
    "washington d.c.": "DC", "florida": "FL", "georgia": "GA", "hawaii": "HI", "idaho": "ID",
    "illinois": "IL", "indiana": "IN", "iowa": "IA", "kansas": "KS", "kentucky": "KY",
    "louisiana": "LA", "maine": "ME", "maryland": "MD", "massachusetts": "MA",
    "michigan": "MI", "minnesota": "MN", "mississippi": "MS", "missouri": "MO",
    "montana": "MT", "nebraska": "NE", "nevada": "NV", "new hampshire": "NH",
    "new jersey": "NJ", "new mexico": "NM", "new york": "NY", "north carolina": "NC",
    "north dakota": "ND", "ohio": "OH", "oklahoma": "OK", "oregon": "OR",
    "pennsylvania": "PA", "rhode island": "RI", "south carolina": "SC", "south dakota": "SD",
    "tennessee": "TN", "texas": "TX", "utah": "UT", "vermont": "VT", "virginia": "VA",
    "washington": "WA", "washington state": "WA", "west virginia": "WV", "wisconsin": "WI",
    "wyoming": "WY", "puerto rico": "PR", "guam": "GU",
}  # fmt: skip

# (last 3-digit ZIP prefix of the range, state or "" for military/mixed), in ascending order.
_ZIP3_RANGES: tuple[tuple[int, str], ...] = (
    (4, ""), (5, "NY"), (7, "PR"), (8, "VI"), (9, "PR"), (27, "MA"), (29, "RI"), (38, "NH"),
    (49, "ME"), (54, "VT"), (55, "MA"), (59, "VT"), (69, "CT"), (89, "NJ"), (99, ""),
    (149, "NY"), (196, "PA"), (199, "DE"), (200, "DC"), (201, "VA"), (205, "DC"), (219, "MD"),
    (246, "VA"), (268, "WV"), (269, ""), (289, "NC"), (299, "SC"), (319, "GA"), (339, "FL"),
    (340, ""), (349, "FL"), (369, "AL"), (385, "TN"), (397, "MS"), (399, "GA"), (427, "KY"),
    (429, ""), (459, "OH"), (479, "IN"), (499, "MI"), (528, "IA"), (529, ""), (549, "WI"),
    (567, "MN"), (568, ""), (569, "DC"), (577, "SD"), (579, ""), (588, "ND"), (589, ""),
    (599, "MT"), (629, "IL"), (658, "MO"), (659, ""), (679, "KS"), (693, "NE"), (699, ""),
    (715, "LA"), (729, "AR"), (732, "OK"), (733, "TX"), (749, "OK"), (799, "TX"), (816, "CO"),
    (819, ""), (831, "WY"), (838, "ID"), (839, ""), (847, "UT"), (849, ""), (865, "AZ"),
    (869, ""), (884, "NM"), (885, "TX"), (888, ""), (898, "NV"), (899, ""), (961, "CA"),
    (966, ""), (968, "HI"), (969, ""), (979, "OR"), (994, "WA"), (999, "AK"),
)  # fmt: skip
_ZIP3_ENDS = [end for end, _ in _ZIP3_RANGES]
_ZIP_RE = re.compile(r"(\d{5})(?:-?\d{4})?")
_NANP_E164_RE = re.compile(r"\+1([2-9]\d\d)\d{7}")


@lru_cache(maxsize=1024)
def is_known_zone(name: str) -> bool:
    """True when `name` is an IANA zone this system can load (e.g. "America/Chicago")."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def zip_state(postal_code: str) -> str | None:
    """The state of a US ZIP code ("33101" or "33101-1234" -> "FL"), None when unknown."""
    match = _ZIP_RE.fullmatch((postal_code or "").strip())
    if not match:
        return None
    prefix = int(match[1][:3])
    return _ZIP3_RANGES[bisect_left(_ZIP3_ENDS, prefix)][1] or None


def state_for_description(description: str) -> str | None:
    """A US postal code from a phonenumbers "en" description, None when not a US place.

    phonenumbers describes US numbers as a state name ("Florida", "Washington State",
    "Washington D.C.") or as a place and postal code ("Tallahassee, FL", "New York, NY").
    """
    text = description.strip()
    if not text:
        return None
    _, _, tail = text.rpartition(", ")
    if tail in STATE_ZONES:
        return tail
    return _STATE_NAMES.get(tail.lower())


@dataclass(frozen=True, slots=True)
class AreaCode:
    """What phonenumbers' prefix tables say about a NANP area code (NPA), every prefix under it.

    `zones` is empty when the tables know nothing; `states` is empty outside the US states,
    DC and the territories (Canada, the Caribbean).
    """

    npa: str
    zones: frozenset[str]
    states: frozenset[str]


@cache
def _area_code_index() -> dict[str, AreaCode]:
    # Keys are "1" + digits; the bare "1" key is the whole-NANP fallback and says nothing.
    zones: dict[str, set[str]] = {}
    for prefix, names in TIMEZONE_DATA.items():
        if prefix.startswith("1") and len(prefix) >= 4:
            zones.setdefault(prefix[1:4], set()).update(n for n in names if is_known_zone(n))
    states: dict[str, set[str]] = {}
    for prefix, descriptions in GEOCODE_DATA.items():
        if prefix.startswith("1") and len(prefix) >= 4:
            state = state_for_description(descriptions.get("en", ""))
            found = states.setdefault(prefix[1:4], set())
            if state:
                found.add(state)
    return {
        npa: AreaCode(npa, frozenset(zones.get(npa, ())), frozenset(states.get(npa, ())))
        for npa in zones.keys() | states.keys()
    }


def area_code(npa: str) -> AreaCode | None:
    """The zones and states of a three-digit NANP area code, None when phonenumbers has none."""
    return _area_code_index().get(npa)


def area_code_for_phone(phone: str | None) -> AreaCode | None:
    """The area code of a NANP number in E.164 ("+15125550123"), None for any other number."""
    match = _NANP_E164_RE.fullmatch(phone or "")
    return area_code(match[1]) if match else None
