"""The preference centre: signed links to it, and the one service that applies what people choose.

A link carries the contact's id and a prefix of its number's keyed hash, signed with a timestamp
(`TimestampSigner`, salt "consent.preferences"). It stops working after
`settings.PREFERENCES_LINK_MAX_AGE_DAYS`, when the contact is erased, or when the number changes:
a link texted to an old number must not manage the new owner's messages.

Every change made on the page is a ledger event with method `preference_centre`: a program
turned off is an opt-out, one turned back on a (re-)opt-in, a frequency or channel change a
`preference` event per program that leaves each program's consent status as it was.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from .models import (
    Channel,
    ConsentEvent,
    ConsentKind,
    ConsentMethod,
    ConsentState,
    ConsentStatus,
    Contact,
    FrequencyPreference,
)
from .services import ConsentError, Recorded, consent_opt_in, consent_revoke

SALT = "consent.preferences"
# 64 bits of the keyed hash: enough to tell numbers apart, short enough for a texted link.
_HASH_CHARS = 16


class PreferencesLinkError(Exception):
    """A preference-centre link that may not be used; `code` is bad_signature, expired or gone."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


def _signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=SALT)


def preferences_token(contact: Contact) -> str:
    """A signed, timestamped token naming `contact` and its current number."""
    if contact.erased_at or not contact.phone:
        raise ValueError(f"{contact} was erased; it has no preference centre.")
    return _signer().sign(f"{contact.pk}.{contact.phone_hash[:_HASH_CHARS]}")


def preferences_url(contact: Contact) -> str:
    """The absolute preference-centre link for `contact` (settings.PUBLIC_BASE_URL + path)."""
    path = reverse("consent:preferences", args=[preferences_token(contact)])
    return settings.PUBLIC_BASE_URL.rstrip("/") + path


def contact_from_token(token: str) -> Contact:
    """The contact a token names. Raises `PreferencesLinkError` if it is forged, too old, names
    an erased contact, or was issued for a number the contact no longer has."""
    max_age = timedelta(days=settings.PREFERENCES_LINK_MAX_AGE_DAYS)
    try:
        payload = _signer().unsign(token, max_age=max_age)
    except signing.SignatureExpired as exc:
        raise PreferencesLinkError("This link has expired.", code="expired") from exc
    except signing.BadSignature as exc:
        raise PreferencesLinkError("This link is not valid.", code="bad_signature") from exc
    contact_id, _, hash_prefix = payload.partition(".")
    contact = Contact.objects.filter(pk=int(contact_id)).first() if contact_id.isdigit() else None
    if (
        contact is None
        or contact.erased_at
        or not contact.phone
        or contact.phone_hash[:_HASH_CHARS] != hash_prefix
    ):
        raise PreferencesLinkError("This link no longer names a subscriber.", code="gone")
    return contact


def consent_preferences_set(
    *,
    contact: Contact,
    programs_on: set[int],
    programs_off: set[int],
    frequency: str,
    channel: str,
    evidence: dict[str, Any],
    source: str,
) -> list[Recorded]:
    """Apply what a person chose in the preference centre; returns one `Recorded` per event.

    Only programs the person already has a consent state for can be changed here (the page
    never enrols anyone in a program they did not join). Off for a program that is opted in or
    pending is an opt-out (waiting messages are cancelled); on for one that is opted out is a
    re-opt-in, confirmed, since opening the texted link proves the handset. A pending program
    left on stays pending: it still needs the person's YES. A new frequency or channel updates
    the contact and appends a `preference` event per program. Nothing changed: no event.
    Raises ConsentError (nothing written) for an unknown choice or program.
    """
    if frequency not in FrequencyPreference.values:
        raise ConsentError(
            f"“{frequency}” is not a frequency.", code="invalid_frequency", field="frequency"
        )
    if channel not in Channel.values:
        raise ConsentError(
            f"“{channel}” is not a channel.", code="invalid_channel", field="channel"
        )
    if programs_on & programs_off:
        raise ConsentError(
            "A program cannot be both on and off.", code="conflict", field="programs"
        )
    occurred_at = timezone.now()
    results: list[Recorded] = []
    with transaction.atomic():
        contact = Contact.objects.select_for_update().get(pk=contact.pk)
        states = {s.program_id: s for s in contact.consent_states.select_related("program")}
        unknown = (programs_on | programs_off) - states.keys()
        if unknown:
            raise ConsentError(
                "Only programs the person joined can be changed here.",
                code="not_joined",
                field="programs",
            )
        common = {
            "contact": contact,
            "method": ConsentMethod.PREFERENCE_CENTRE,
            "source": source,
            "occurred_at": occurred_at,
            "evidence": evidence,
        }
        turn_off = [
            states[pk].program
            for pk in sorted(programs_off)
            if states[pk].status != ConsentStatus.OPTED_OUT
        ]
        if turn_off:
            results += consent_revoke(programs=turn_off, **common)
        for pk in sorted(programs_on):
            if states[pk].status == ConsentStatus.OPTED_OUT:
                results.append(consent_opt_in(program=states[pk].program, confirmed=True, **common))
        results += _record_preference(
            contact=contact,
            frequency=frequency,
            channel=channel,
            evidence=evidence,
            source=source,
            occurred_at=occurred_at,
        )
    return results


def _record_preference(
    *,
    contact: Contact,
    frequency: str,
    channel: str,
    evidence: dict[str, Any],
    source: str,
    occurred_at: datetime,
) -> list[Recorded]:
    """Store a new frequency or channel on the (locked) contact and append one `preference`
    event per program it has a state for. The states are not touched: a preference never
    changes consent, and readers of the ledger skip these events when deriving status."""
    if (contact.frequency_preference, contact.preferred_channel) == (frequency, channel):
        return []
    contact.frequency_preference = frequency
    contact.preferred_channel = channel
    contact.save(update_fields=["frequency_preference", "preferred_channel", "updated_at"])
    states = ConsentState.objects.filter(contact=contact).order_by("program_id")
    events = ConsentEvent.objects.bulk_create(
        ConsentEvent(
            contact=contact,
            phone=contact.phone,
            program_id=state.program_id,
            kind=ConsentKind.PREFERENCE,
            resulting_status=state.status,
            method=ConsentMethod.PREFERENCE_CENTRE,
            source=source.strip()[:500],
            occurred_at=occurred_at,
            evidence={"frequency": frequency, "channel": channel, **evidence},
        )
        for state in states
    )
    return [Recorded(event, created=True) for event in events]
