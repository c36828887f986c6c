"""Two sections of the consent evidence pack that prove more than its own hashes can.

- `hash_chain_section`: the number's links of the ledger's hash chain (each event's place,
  hashes and the canonical content its hash covers) and the daily root that covers them, so a
  reader can recompute every hash and find the number's heads in the root file the operator
  keeps elsewhere. `chain_problems` is what `evidence_verify` re-checks, offline.
- `RegistrationsInForce`: which registration snapshot (what the carriers were told) was in
  force for a marketing message's sender and program when it was sent; the pack lists each
  referenced snapshot once (`registration_snapshots.json`).
"""

from __future__ import annotations

import hashlib
import json
from bisect import bisect_right
from datetime import UTC, datetime
from typing import Any

from consent import ledger_hash
from consent.ledger_chain import chain_for, root_covering
from consent.models import ConsentEvent, LedgerRoot

from .registrations.models import (
    CONTENT_FIELDS,
    Registration,
    RegistrationSnapshot,
    SnapshotStatus,
)

CHAIN_FILE = "hash_chain.json"
LEDGER_FILE = "ledger.jsonl"


# --- the hash chain ------------------------------------------------------------------------


def hash_chain_section(phone: str, *, withhold_content: bool) -> dict[str, Any]:
    """The number's chain links (every contact it belonged to) and the root covering them.

    The root is the first one published after the newest link was recorded; until there is
    one, the latest root (covering the links recorded before its cutoff), if any. An erased
    person's canonical content (it holds the opt-in's evidence) is withheld: the links, their
    order and their hashes remain."""
    links = []
    for link in chain_for(phone):
        content = json.loads(link["canonical"])
        links.append(
            {
                "event_id": link["event_id"],
                "contact_id": link["contact_id"],
                "chain_seq": link["chain_seq"],
                "prev_hash": link["prev_hash"],
                "chain_hash": link["chain_hash"],
                "recorded_at": content["recorded_at"],
                "canonical": None if withhold_content else link["canonical"],
                "valid_when_packed": link["valid"],
                "covered_by_root": False,
            }
        )
    newest = (
        ConsentEvent.objects.filter(pk__in=[link["event_id"] for link in links])
        .order_by("-recorded_at")
        .first()
    )
    root = (root_covering(newest) if newest else None) or LedgerRoot.objects.order_by(
        "-date"
    ).first()
    section: dict[str, Any] = {
        "format": ledger_hash.VERSION.decode().strip(),
        "hash": "SHA-256 of the format line (with its newline) followed by `canonical`",
        "links": links,
        "root": None,
        "root_lines": [],
    }
    if root is not None:
        cutoff = _utc_text(root.cutoff)
        heads: dict[int, dict] = {}
        for link in links:  # recorded_at texts sort as times: same format, all UTC
            link["covered_by_root"] = link["recorded_at"] < cutoff
            if link["covered_by_root"]:
                heads[link["contact_id"]] = link
        section["root"] = {
            "date": root.date,
            "cutoff": root.cutoff,
            "previous_hash": root.previous_hash,
            "root_hash": root.root_hash,
            "chains": root.chains,
            "events": root.events,
        }
        # This number's lines in the root file, exactly as the file has them.
        section["root_lines"] = [
            ledger_hash.root_line(contact_id, h["chain_seq"], h["chain_hash"]).strip()
            for contact_id, h in sorted(heads.items())
        ]
    return section


def _utc_text(moment: datetime) -> str:
    """A time as the canonical content writes it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def chain_problems(chain: dict[str, Any], ledger_event_ids: set[int]) -> list[str]:
    """Re-check a pack's chain section on its own: each link's hash against its canonical
    content, its place and its link to the one before, the root's lines against the links,
    and that every event of the ledger file is in the chain."""
    problems: list[str] = []
    try:
        links = sorted(chain["links"], key=lambda link: (link["contact_id"], link["chain_seq"]))
        version = chain["format"].encode() + b"\n"
    except (KeyError, TypeError, AttributeError):
        return [f"{CHAIN_FILE}: cannot be read as a hash chain"]
    previous: dict[int, dict] = {}
    for link in links:
        where = f"{CHAIN_FILE}: event #{link.get('event_id')}"
        before = previous.get(link["contact_id"])
        if link["chain_seq"] != (before["chain_seq"] + 1 if before else 1):
            problems.append(f"{where}: chain place {link['chain_seq']} does not follow")
        if link["prev_hash"] != (before["chain_hash"] if before else ""):
            problems.append(f"{where}: its link to the previous event is broken")
        canonical = link.get("canonical")
        if canonical is not None:
            digest = hashlib.sha256(version + canonical.encode()).hexdigest()
            if digest != link["chain_hash"]:
                problems.append(f"{where}: its content does not hash to its chain hash")
            content = json.loads(canonical)
            placed = (content.get("contact_id"), content.get("chain_seq"), content.get("prev_hash"))
            if placed != (link["contact_id"], link["chain_seq"], link["prev_hash"]):
                problems.append(f"{where}: its content names another place in the chain")
        if link.get("valid_when_packed") is False:
            problems.append(f"{where}: the ledger did not verify when the pack was made")
        previous[link["contact_id"]] = link
    heads = {
        ledger_hash.root_line(link["contact_id"], link["chain_seq"], link["chain_hash"]).strip()
        for link in links
    }
    for line in chain.get("root_lines", []):
        if line not in heads:
            problems.append(f"{CHAIN_FILE}: root line “{line}” matches no link of the chain")
    missing = ledger_event_ids - {link["event_id"] for link in links}
    if missing:
        problems.append(
            f"{CHAIN_FILE}: ledger events {', '.join(map(str, sorted(missing)))} are not in it"
        )
    return problems


# --- registration snapshots ----------------------------------------------------------------


class RegistrationsInForce:
    """Which snapshots were in force for a (sender, program) at a moment: for each registration
    of that sender and program, its approved-then-maybe-superseded snapshot decided last before
    the moment. Loads every registration's decisions once (there are few); `rows()` then reads
    the content of the snapshots referenced."""

    def __init__(self) -> None:
        decided: dict[int, list[tuple[datetime, int]]] = {}
        for registration_id, decided_at, pk in (
            RegistrationSnapshot.objects.filter(
                status__in=(SnapshotStatus.APPROVED, SnapshotStatus.SUPERSEDED),
                decided_at__isnull=False,
            )
            .order_by("decided_at", "pk")
            .values_list("registration_id", "decided_at", "pk")
        ):
            decided.setdefault(registration_id, []).append((decided_at, pk))
        self._by_pair: dict[tuple[int, int], list[list[tuple[datetime, int]]]] = {}
        pairs = Registration.senders.through.objects.filter(
            registration_id__in=list(decided)
        ).values_list("registration_id", "sender_id")
        programs = Registration.programs.through.objects.filter(
            registration_id__in=list(decided)
        ).values_list("registration_id", "program_id")
        programs_of: dict[int, list[int]] = {}
        for registration_id, program_id in programs:
            programs_of.setdefault(registration_id, []).append(program_id)
        for registration_id, sender_id in pairs:
            for program_id in programs_of.get(registration_id, []):
                key = (sender_id, program_id)
                self._by_pair.setdefault(key, []).append(decided[registration_id])
        self.referenced: set[int] = set()

    def at(self, sender_id: int | None, program_id: int | None, moment: datetime) -> list[int]:
        """The ids of the snapshots in force (none: no approved registration covered it)."""
        found = []
        for decisions in self._by_pair.get((sender_id, program_id), []):
            place = bisect_right(decisions, (moment, float("inf")))
            if place:
                found.append(decisions[place - 1][1])
        self.referenced.update(found)
        return sorted(found)

    def rows(self) -> list[dict[str, Any]]:
        """Each referenced snapshot as the carriers saw it, with its registration."""
        snapshots = (
            RegistrationSnapshot.objects.filter(pk__in=self.referenced)
            .select_related("registration__brand")
            .order_by("pk")
        )
        return [
            {
                "id": s.pk,
                "registration": s.registration.name,
                "registration_kind": s.registration.kind,
                "registry_campaign_id": s.registration.registry_campaign_id,
                "brand": s.registration.brand.display_name,
                "version": s.number,
                "status_now": s.status,
                "submitted_at": s.submitted_at,
                "approved_at": s.decided_at,
                "decision_note": s.decision_note,
                "content": {name: getattr(s, name) for name in CONTENT_FIELDS},
            }
            for s in snapshots
        ]
