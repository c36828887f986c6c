"""The ledger's hash chain, as pure functions: what an event's hash covers and how it is built.

Each consent event stores `chain_hash` = SHA-256 of its canonical content, which includes its
place in its contact's chain (`chain_seq`) and the previous event's hash (`prev_hash`). Change,
remove or reorder one event and its own hash, or the next event's link, no longer matches.

The canonical content is the event's recorded fields exactly as the database returns them, so
that anyone holding the rows (or an export) can recompute it: JSON with sorted keys and no
spaces, ASCII only, datetimes in UTC with microseconds, foreign keys as ids. An erasure blanks
the contact, never the ledger, so erased people's chains still verify.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

#: The fields an event's hash covers, in the order they are listed in its canonical form.
HASHED_FIELDS = (
    "contact_id",
    "chain_seq",
    "prev_hash",
    "phone",
    "program_id",
    "kind",
    "resulting_status",
    "method",
    "source",
    "disclosure_id",
    "disclosure_hash",
    "occurred_at",
    "recorded_at",
    "recorded_by_id",
    "recorded_by_label",
    "evidence",
    "note",
    "idempotency_key",
)

#: Marks the format of the canonical content; a new format would get a new tag.
VERSION = b"consent-ledger-v1\n"


def canonical(content: dict[str, Any]) -> bytes:
    """The bytes an event's hash is computed over (`content` holds every HASHED_FIELDS name)."""
    values = {name: _plain(name, content[name]) for name in HASHED_FIELDS}
    return json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def event_hash(content: dict[str, Any]) -> str:
    return hashlib.sha256(VERSION + canonical(content)).hexdigest()


def _plain(name: str, value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if name == "evidence":
        value = value or {}
        if all(type(k) is str and type(v) in _FLAT for k, v in value.items()):
            return value  # the usual case, stored and read back as it is
        # As stored: through JSON once (tuples become lists, keys strings), then numbers as
        # PostgreSQL's jsonb gives them back.
        return _json_numbers(json.loads(json.dumps(value)))
    return value


_FLAT = (str, int, bool, type(None))


def _json_numbers(value: Any) -> Any:
    """jsonb keeps numbers as decimals: 1e+16 comes back as the integer 10000000000000000 and
    -0.0 as 0.0. Floats are written the way they will be read, on SQLite and PostgreSQL alike."""
    if isinstance(value, dict):
        return {key: _json_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_numbers(item) for item in value]
    if isinstance(value, float):
        if value == 0:
            return 0.0
        if "e+" in repr(value):
            return int(Decimal(repr(value)))
    return value


def root_hash(previous_root: str, heads: Iterable[tuple[int, int, str]]) -> str:
    """The daily root: SHA-256 over the previous root and every chain's head, in contact order,
    one line `contact_id seq chain_hash` each (exactly the lines of the root file)."""
    digest = root_digest(previous_root)
    for head in heads:
        digest.update(root_line(*head).encode())
    return digest.hexdigest()


def root_digest(previous_root: str) -> hashlib._Hash:
    return hashlib.sha256(b"consent-ledger-root-v1\n" + previous_root.encode() + b"\n")


def root_line(contact_id: int, seq: int, head: str) -> str:
    return f"{contact_id} {seq} {head}\n"
