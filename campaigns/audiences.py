"""Audience filters: a small, documented JSON language turned into one queryset.

Keys (all optional, combined with AND):

- ``tags_any`` / ``tags_all``: tag names.
- ``state_in``: US postal codes of the contact's address.
- ``time_zone_in``: IANA zones of the contact's own time-zone field.
- ``attributes``: ``{"name": value}`` exact matches on contact attributes.
- ``locale_in``: e.g. ``["es"]``.
- ``consent``: ``{"program": slug, "status": "opted_in" (default), "method_in": [...],
  "source_contains": "...", "since": "YYYY-MM-DD", "until": "YYYY-MM-DD"}`` on the contact's
  current consent for that program.
- ``messaged_within_days`` / ``not_messaged_within_days``: last message sent to them.
- ``replied_within_days``: last reply received from them.
- ``created_since``: "YYYY-MM-DD".

Whatever the filters say, a campaign only ever reaches contacts the consent gate allows: the
audience narrows, it never widens.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from consent.models import ConsentState, ConsentStatus, Contact, Program
from messaging.models import InboundMessage, OutboundMessage

KNOWN_KEYS = {
    "tags_any",
    "tags_all",
    "state_in",
    "time_zone_in",
    "attributes",
    "locale_in",
    "consent",
    "messaged_within_days",
    "not_messaged_within_days",
    "replied_within_days",
    "created_since",
}


class AudienceFilterError(ValueError):
    pass


def _date(value: Any, key: str) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise AudienceFilterError(f"{key}: “{value}” is not a date (YYYY-MM-DD).") from exc


def _list(filters: dict, key: str) -> list:
    value = filters[key]
    if not isinstance(value, list) or not value:
        raise AudienceFilterError(f"{key} must be a non-empty list.")
    return value


def _days(filters: dict, key: str) -> timedelta:
    value = filters[key]
    if not isinstance(value, int) or value <= 0:
        raise AudienceFilterError(f"{key} must be a positive whole number of days.")
    return timedelta(days=value)


def audience_contacts(filters: dict[str, Any]) -> QuerySet[Contact]:
    """The contacts matching `filters`. Raises AudienceFilterError naming a bad key or value."""
    if not isinstance(filters, dict):
        raise AudienceFilterError("Filters must be a JSON object.")
    unknown = sorted(set(filters) - KNOWN_KEYS)
    if unknown:
        raise AudienceFilterError(
            f"Unknown filter {', '.join(unknown)}; known: {', '.join(sorted(KNOWN_KEYS))}."
        )
    qs = Contact.objects.filter(phone__isnull=False)
    now = timezone.now()
    if "tags_any" in filters:
        qs = qs.filter(tags__name__in=_list(filters, "tags_any")).distinct()
    if "tags_all" in filters:
        for tag in _list(filters, "tags_all"):
            qs = qs.filter(tags__name=tag)
    if "state_in" in filters:
        qs = qs.filter(state__in=[s.upper() for s in _list(filters, "state_in")])
    if "time_zone_in" in filters:
        qs = qs.filter(time_zone__in=_list(filters, "time_zone_in"))
    if "locale_in" in filters:
        qs = qs.filter(locale__in=_list(filters, "locale_in"))
    if "attributes" in filters:
        attributes = filters["attributes"]
        if not isinstance(attributes, dict):
            raise AudienceFilterError("attributes must be an object of name: value.")
        for name, value in attributes.items():
            qs = qs.filter(**{f"attributes__{name}": value})
    if "consent" in filters:
        qs = qs.filter(Exists(_consent_states(filters["consent"])))
    if "created_since" in filters:
        qs = qs.filter(created_at__date__gte=_date(filters["created_since"], "created_since"))
    if "messaged_within_days" in filters or "not_messaged_within_days" in filters:
        sent = OutboundMessage.objects.filter(contact=OuterRef("pk"), sent_at__isnull=False)
        if "messaged_within_days" in filters:
            since = now - _days(filters, "messaged_within_days")
            qs = qs.filter(Exists(sent.filter(sent_at__gte=since)))
        if "not_messaged_within_days" in filters:
            since = now - _days(filters, "not_messaged_within_days")
            qs = qs.exclude(Exists(sent.filter(sent_at__gte=since)))
    if "replied_within_days" in filters:
        since = now - _days(filters, "replied_within_days")
        qs = qs.filter(
            Exists(InboundMessage.objects.filter(contact=OuterRef("pk"), received_at__gte=since))
        )
    return qs


def _consent_states(spec: Any) -> QuerySet[ConsentState]:
    if not isinstance(spec, dict) or "program" not in spec:
        raise AudienceFilterError('consent needs {"program": "<slug>", ...}.')
    program = Program.objects.filter(slug=spec["program"]).first()
    if program is None:
        raise AudienceFilterError(f"consent: no program “{spec['program']}”.")
    status = spec.get("status", ConsentStatus.OPTED_IN)
    if status not in ConsentStatus.values:
        raise AudienceFilterError(f"consent: “{status}” is not a consent status.")
    states = ConsentState.objects.filter(contact=OuterRef("pk"), program=program, status=status)
    if "method_in" in spec:
        states = states.filter(last_event__method__in=list(spec["method_in"]))
    if "source_contains" in spec:
        states = states.filter(last_event__source__icontains=str(spec["source_contains"]))
    if "since" in spec:
        states = states.filter(since__date__gte=_date(spec["since"], "consent.since"))
    if "until" in spec:
        states = states.filter(since__date__lte=_date(spec["until"], "consent.until"))
    return states.filter(~Q(pk=None))
