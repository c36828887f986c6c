"""Does every consent state still follow from the ledger? (`manage.py consent_verify`, weekly.)

The state of a contact and program is its latest status-setting event by (occurred_at, id);
`ConsentState` stores it beside the ledger. Two set-based queries find every drift: states that
point at another event than that one (or disagree with their own event), and ledger pairs that
have no state at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Exists, F, OuterRef, Q, Subquery

from .models import ConsentEvent, ConsentKind, ConsentState


@dataclass(frozen=True)
class Drift:
    contact_id: int
    program_id: int
    what: str

    def __str__(self) -> str:
        return f"contact #{self.contact_id}, program #{self.program_id}: {self.what}"


@dataclass
class StateCheck:
    drifts: list[Drift] = field(default_factory=list)
    more: int = 0  # drifts found beyond the ones listed

    @property
    def ok(self) -> bool:
        return not self.drifts


def _status_events():
    return ConsentEvent.objects.exclude(kind=ConsentKind.PREFERENCE)


def consent_state_check(*, limit: int = 100) -> StateCheck:
    """Recompute every state from the ledger; list up to `limit` drifts (and count the rest)."""
    latest = _status_events().filter(
        contact_id=OuterRef("contact_id"), program_id=OuterRef("program_id")
    )
    expected = latest.order_by("-occurred_at", "-id").values("id")[:1]
    wrong = (
        ConsentState.objects.annotate(expected_id=Subquery(expected))
        .filter(
            Q(expected_id__isnull=True)
            | ~Q(last_event_id=F("expected_id"))
            | ~Q(status=F("last_event__resulting_status"))
            | ~Q(since=F("last_event__occurred_at"))
            | ~Q(contact_id=F("last_event__contact_id"))
            | ~Q(program_id=F("last_event__program_id"))
        )
        .order_by("contact_id", "program_id")
        .values_list(
            "contact_id",
            "program_id",
            "status",
            "last_event_id",
            "expected_id",
            "last_event__resulting_status",
        )
    )
    check = StateCheck()
    for contact_id, program_id, status, event_id, expected_id, event_status in wrong.iterator():
        if expected_id is None:
            what = f"state “{status}” but the ledger has no status event for it"
        elif event_id != expected_id:
            what = f"state points at event #{event_id}; the ledger's latest is #{expected_id}"
        else:
            what = f"state “{status}” does not match its event #{event_id} (“{event_status}”)"
        _add(check, Drift(contact_id, program_id, what), limit)
    states = ConsentState.objects.filter(
        contact_id=OuterRef("contact_id"), program_id=OuterRef("program_id")
    )
    missing = (
        _status_events()
        .filter(~Exists(states))
        .values_list("contact_id", "program_id")
        .order_by("contact_id", "program_id")
        .distinct()
    )
    for contact_id, program_id in missing.iterator():
        what = "the ledger sets a state, but none is stored"
        _add(check, Drift(contact_id, program_id, what), limit)
    return check


def _add(check: StateCheck, drift: Drift, limit: int) -> None:
    if len(check.drifts) < limit:
        check.drifts.append(drift)
    else:
        check.more += 1
