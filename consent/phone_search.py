"""Finding people by part of their number ("790-4411", "4411"): a suffix of the E.164 digits.

Numbers are stored in E.164, so a suffix search is a prefix search of the reversed number. On
PostgreSQL an expression index on `reverse(phone)` (with `text_pattern_ops`, migration
`0009_contact_phone_suffix_index`) serves `reverse(phone) LIKE '<reversed digits>%'`, so it
stays an index range scan at a million contacts (`bench/bench_contact_search.py`).
"""

from __future__ import annotations

import re

from django.db.models import QuerySet
from django.db.models.functions import Reverse

#: The expression index on PostgreSQL (created by a migration; SQLite scans, which is fine for
#: the demo-sized databases it serves).
SUFFIX_INDEX = "contact_phone_reversed"

#: Fewer digits than this match too many numbers to be a look-up.
MIN_SUFFIX_DIGITS = 4

_PHONE_LIKE = re.compile(r"^[\d\s().+\-/]+$")


def phone_suffix(query: str) -> str | None:
    """The digits of a search that reads as part of a phone number, else None.

    Separators people type (spaces, dashes, dots, brackets, a leading +) are dropped; letters
    mean it is not a number. At least `MIN_SUFFIX_DIGITS` digits.
    """
    query = (query or "").strip()
    if not _PHONE_LIKE.match(query):
        return None
    digits = re.sub(r"\D", "", query)
    return digits if len(digits) >= MIN_SUFFIX_DIGITS else None


def filter_phone_suffix(queryset: QuerySet, lookup: str, digits: str) -> QuerySet:
    """Rows whose number (`lookup`, e.g. "phone" or "contact__phone") ends with `digits`."""
    return queryset.alias(_phone_reversed=Reverse(lookup)).filter(
        _phone_reversed__startswith=digits[::-1]
    )
