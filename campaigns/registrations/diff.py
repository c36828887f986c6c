"""What changed between two registration snapshots, field by field."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .models import CONTENT_FIELDS, RegistrationSnapshot


@dataclass(frozen=True)
class Change:
    field: str
    before: Any
    after: Any
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()


def snapshot_diff(before: RegistrationSnapshot | None, after: RegistrationSnapshot) -> list[Change]:
    """The content fields that differ (lists also say which items were added or removed)."""
    changes = []
    for name in CONTENT_FIELDS:
        old = getattr(before, name) if before is not None else None
        new = getattr(after, name)
        if old == new:
            continue
        added: tuple[str, ...] = ()
        removed: tuple[str, ...] = ()
        if isinstance(new, list) or isinstance(old, list):
            old_items, new_items = list(old or []), list(new or [])
            added = tuple(str(i) for i in new_items if i not in old_items)
            removed = tuple(str(i) for i in old_items if i not in new_items)
        changes.append(Change(name, old, new, added, removed))
    return changes
