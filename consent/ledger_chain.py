"""Proving the ledger: each contact's hash chain, the daily root over all chains, verification.

- `chain_for(contact_or_phone)`: a person's chain, event by event, with each hash re-checked
  (what an evidence pack carries), and `root_covering(event)`: the first daily root after it.
- `root_publish(date)`: the root of one UTC day, a `LedgerRoot` row; `root_file_lines()` is the
  file an operator keeps elsewhere (its header, then every chain's head).
- `ledger_verify(root=...)`: walks every chain once and names the first event that was altered,
  reordered or removed; against a root (a row, or better the operator's file) it also finds
  chains that were rewritten whole, or cut short, since.

Rows are read in one ordered pass (`iterator()`); only one contact's events are held at a time.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import groupby
from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import F, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from . import ledger_hash
from .models import ConsentEvent, Contact, LedgerRoot
from .phones import normalize_phone

ROOT_FORMAT = "consent-ledger-root-v1"
_COLUMNS = ("id", "recorded_at", "chain_hash", *ledger_hash.HASHED_FIELDS)


# --- A person's chain --------------------------------------------------------------------------


def chain_for(contact_or_phone: Contact | str) -> list[dict[str, Any]]:
    """Every ledger event of a contact (or of every contact a number belonged to, erased ones
    included), in chain order: its id, place, hashes, the canonical content the hash covers,
    and whether the stored hash still matches that content and the previous event."""
    events = ConsentEvent.objects.order_by("contact_id", "chain_seq")
    if isinstance(contact_or_phone, Contact):
        events = events.filter(contact_id=contact_or_phone.pk)
    else:
        e164 = normalize_phone(contact_or_phone)
        owners = ConsentEvent.objects.filter(phone=e164).values("contact_id")
        events = events.filter(contact_id__in=owners)
    chain: list[dict[str, Any]] = []
    previous: dict[int, str] = {}
    for row in events.values(*_COLUMNS):
        content = {name: row[name] for name in ledger_hash.HASHED_FIELDS}
        digest = ledger_hash.event_hash(content)
        linked = row["prev_hash"] == previous.get(row["contact_id"], "")
        previous[row["contact_id"]] = row["chain_hash"]
        chain.append(
            {
                "event_id": row["id"],
                "contact_id": row["contact_id"],
                "chain_seq": row["chain_seq"],
                "prev_hash": row["prev_hash"],
                "chain_hash": row["chain_hash"],
                "canonical": ledger_hash.canonical(content).decode(),
                "valid": linked and digest == row["chain_hash"],
            }
        )
    return chain


def root_covering(event: ConsentEvent) -> LedgerRoot | None:
    """The first published root whose cutoff is after the event was recorded (None: not yet)."""
    return LedgerRoot.objects.filter(cutoff__gt=event.recorded_at).order_by("date").first()


# --- Daily roots -------------------------------------------------------------------------------


def day_cutoff(day: date) -> datetime:
    """A day's root covers what was recorded before the next midnight, UTC."""
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)


def chain_heads_before(cutoff: datetime) -> Iterator[tuple[int, int, str]]:
    """(contact_id, chain_seq, chain_hash) of each chain's last event recorded before `cutoff`,
    in contact order: one set-based query."""
    heads = (
        ConsentEvent.objects.filter(recorded_at__lt=cutoff)
        .annotate(
            place=Window(RowNumber(), partition_by=F("contact_id"), order_by=F("chain_seq").desc())
        )
        .filter(place=1)
        .order_by("contact_id")
        .values_list("contact_id", "chain_seq", "chain_hash")
    )
    yield from heads.iterator(chunk_size=5000)


def root_publish(day: date | None = None) -> LedgerRoot:
    """Publish the root of `day` (default yesterday, UTC); an existing one is returned as is.
    Refuses a day that is not over yet."""
    day = day or (timezone.now().astimezone(UTC).date() - timedelta(days=1))
    cutoff = day_cutoff(day)
    if cutoff > timezone.now():
        raise ValueError(f"{day} is not over yet (UTC): its root can be published after {cutoff}.")
    existing = LedgerRoot.objects.filter(date=day).first()
    if existing:
        return existing
    previous = LedgerRoot.objects.filter(date__lt=day).order_by("-date").first()
    previous_hash = previous.root_hash if previous else ""
    counts = {"chains": 0, "events": 0}

    def counted(heads: Iterable[tuple[int, int, str]]) -> Iterator[tuple[int, int, str]]:
        for head in heads:
            counts["chains"] += 1
            counts["events"] += head[1]
            yield head

    root = ledger_hash.root_hash(previous_hash, counted(chain_heads_before(cutoff)))
    with transaction.atomic():
        root_row, _ = LedgerRoot.objects.get_or_create(
            date=day,
            defaults={
                "cutoff": cutoff,
                "previous_hash": previous_hash,
                "root_hash": root,
                "chains": counts["chains"],
                "events": counts["events"],
            },
        )
    return root_row


def root_file_lines(root: LedgerRoot) -> Iterator[str]:
    """The root file: a JSON header, then one `contact_id chain_seq chain_hash` line per chain
    (the lines the root hash is computed over). Kept elsewhere, it lets `ledger_verify` name the
    chain that changed even if the database's own root row was rewritten too."""
    header = {
        "format": ROOT_FORMAT,
        "date": root.date.isoformat(),
        "cutoff": root.cutoff.astimezone(UTC).isoformat(),
        "previous_hash": root.previous_hash,
        "root_hash": root.root_hash,
        "chains": root.chains,
        "events": root.events,
    }
    yield json.dumps(header, sort_keys=True) + "\n"
    for head in chain_heads_before(root.cutoff):
        yield ledger_hash.root_line(*head)


def root_write(root: LedgerRoot, path: Path) -> Path:
    """Write the root file (to `path`, or into the folder `path` as ledger-root-DATE.txt)."""
    if path.is_dir():
        path = path / f"ledger-root-{root.date.isoformat()}.txt"
    with path.open("w", encoding="ascii") as out:
        out.writelines(root_file_lines(root))
    return path


@dataclass
class RootClaim:
    """A root to verify against: from the database, or from an operator's file (with heads)."""

    date: date
    cutoff: datetime
    previous_hash: str
    root_hash: str
    chains: int
    events: int
    heads: Iterator[tuple[int, int, str]] | None = None
    source: str = ""

    @classmethod
    def from_row(cls, root: LedgerRoot) -> RootClaim:
        return cls(
            date=root.date,
            cutoff=root.cutoff,
            previous_hash=root.previous_hash,
            root_hash=root.root_hash,
            chains=root.chains,
            events=root.events,
            source=f"root row {root.pk} ({root.date})",
        )

    @classmethod
    def from_file(cls, path: Path) -> RootClaim:
        lines = path.open(encoding="ascii")
        header = json.loads(next(lines))
        if header.get("format") != ROOT_FORMAT:
            raise ValueError(f"{path} is not a ledger root file ({ROOT_FORMAT}).")

        def heads() -> Iterator[tuple[int, int, str]]:
            with lines:
                for line in lines:
                    contact_id, seq, digest = line.split()
                    yield int(contact_id), int(seq), digest

        return cls(
            date=date.fromisoformat(header["date"]),
            cutoff=datetime.fromisoformat(header["cutoff"]),
            previous_hash=header["previous_hash"],
            root_hash=header["root_hash"],
            chains=header["chains"],
            events=header["events"],
            heads=heads(),
            source=str(path),
        )


# --- Verification ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    contact_id: int
    event_id: int | None
    chain_seq: int | None
    what: str

    def __str__(self) -> str:
        event = f"event #{self.event_id}" if self.event_id else "no event"
        place = f" (chain place {self.chain_seq})" if self.chain_seq else ""
        return f"contact #{self.contact_id}, {event}{place}: {self.what}"


@dataclass
class Verification:
    chains: int = 0
    events: int = 0
    problems: list[Problem] = field(default_factory=list)
    root_problems: list[str] = field(default_factory=list)
    root: RootClaim | None = None

    @property
    def ok(self) -> bool:
        return not self.problems and not self.root_problems


def ledger_verify(root: RootClaim | None = None) -> Verification:
    """Check every chain (each event's hash, place and link) and, given a root, that every
    chain still reaches the head the root recorded, and that the root hash recomputes."""
    result = Verification(root=root)
    claimed = _Heads(root.heads, root.previous_hash) if root and root.heads is not None else None
    heads: list[tuple[int, int, str]] = []
    rows = ConsentEvent.objects.order_by("contact_id", "id").values_list(*_COLUMNS)
    for contact_id, chain in groupby(rows.iterator(chunk_size=5000), key=lambda r: r[3]):
        events = [dict(zip(_COLUMNS, row, strict=True)) for row in chain]
        result.chains += 1
        result.events += len(events)
        problem = _check_chain(contact_id, events)
        if problem:
            result.problems.append(problem)
        if root is not None:
            covered = [e for e in events if e["recorded_at"] < root.cutoff]
            head = max(covered, key=lambda e: e["chain_seq"]) if covered else None
            if head:
                heads.append((contact_id, head["chain_seq"], head["chain_hash"]))
            if claimed is not None:
                result.problems += claimed.compare(contact_id, events, head)
    if claimed is not None:
        result.problems += claimed.compare_rest()
    if root is not None:
        result.root_problems = _check_root(root, heads)
    if claimed is not None and claimed.digest.hexdigest() != root.root_hash:
        result.root_problems.append(f"{root.source}: its chain heads do not hash to its root")
    return result


def _check_chain(contact_id: int, events: list[dict[str, Any]]) -> Problem | None:
    """The first bad event of one contact's chain, walked in id (insertion) order."""
    previous: dict[str, Any] | None = None
    for event in events:
        expected = previous["chain_seq"] + 1 if previous else 1
        if event["chain_seq"] != expected:
            places = {e["chain_seq"] for e in events}
            what = (
                f"events are missing before it (no chain place {expected})"
                if expected not in places
                else f"out of order: stored where chain place {expected} belongs"
            )
            return Problem(contact_id, event["id"], event["chain_seq"], what)
        if event["prev_hash"] != (previous["chain_hash"] if previous else ""):
            what = (
                f"its link to the previous event #{previous['id']} is broken: that event was "
                "altered and re-hashed, or replaced"
                if previous
                else "it opens the chain but links to an earlier event that is gone"
            )
            return Problem(contact_id, event["id"], event["chain_seq"], what)
        content = {name: event[name] for name in ledger_hash.HASHED_FIELDS}
        if ledger_hash.event_hash(content) != event["chain_hash"]:
            what = "altered: its content no longer matches its hash"
            return Problem(contact_id, event["id"], event["chain_seq"], what)
        previous = event
    return None


class _Heads:
    """The heads of a root file, merged with the walk (both in contact order)."""

    def __init__(self, heads: Iterator[tuple[int, int, str]], previous_root: str) -> None:
        self.digest = ledger_hash.root_digest(previous_root)  # of the file's own lines
        self._heads = self._hashed(heads)
        self._next = next(self._heads, None)

    def _hashed(self, heads: Iterator[tuple[int, int, str]]) -> Iterator[tuple[int, int, str]]:
        for head in heads:
            self.digest.update(ledger_hash.root_line(*head).encode())
            yield head

    def _skip_to(self, contact_id: int) -> list[Problem]:
        gone = []
        while self._next is not None and self._next[0] < contact_id:
            missing_id, seq, _ = self._next
            gone.append(Problem(missing_id, None, seq, "the whole chain is gone since the root"))
            self._next = next(self._heads, None)
        return gone

    def compare(
        self, contact_id: int, events: list[dict[str, Any]], head: dict[str, Any] | None
    ) -> list[Problem]:
        problems = self._skip_to(contact_id)
        if self._next is None or self._next[0] != contact_id:
            if head is not None:
                what = "recorded before the root's cutoff, but the root has no chain for it"
                problems.append(Problem(contact_id, head["id"], head["chain_seq"], what))
            return problems
        _, seq, digest = self._next
        self._next = next(self._heads, None)
        at = next((e for e in events if e["chain_seq"] == seq), None)
        if at is None:
            what = f"events up to chain place {seq} were in the root and are gone"
            last = events[-1]
            problems.append(Problem(contact_id, last["id"], last["chain_seq"], what))
        elif at["chain_hash"] != digest:
            what = "differs from the root's head: the chain was rewritten up to here"
            problems.append(Problem(contact_id, at["id"], seq, what))
        elif head is not None and head["chain_seq"] > seq:
            what = "recorded before the root's cutoff, but after the root's head"
            problems.append(Problem(contact_id, head["id"], head["chain_seq"], what))
        return problems

    def compare_rest(self) -> list[Problem]:
        return self._skip_to(2**63)


def _check_root(root: RootClaim, heads: list[tuple[int, int, str]]) -> list[str]:
    problems = []
    recomputed = ledger_hash.root_hash(root.previous_hash, heads)
    if recomputed != root.root_hash:
        problems.append(
            f"the ledger before {root.cutoff.isoformat()} no longer hashes to the root of "
            f"{root.date} ({root.source})"
        )
    events = sum(seq for _, seq, _ in heads)
    if (len(heads), events) != (root.chains, root.events):
        problems.append(
            f"the root of {root.date} covered {root.chains} chains and {root.events} events; "
            f"the ledger now has {len(heads)} and {events} before its cutoff"
        )
    stored = LedgerRoot.objects.filter(date=root.date).first()
    if root.heads is not None and stored and stored.root_hash != root.root_hash:
        problems.append(f"the database's root row of {root.date} differs from {root.source}")
    previous = LedgerRoot.objects.filter(date__lt=root.date).order_by("-date").first()
    if previous and previous.root_hash != root.previous_hash:
        problems.append(f"the root of {root.date} does not follow the root of {previous.date}")
    return problems
