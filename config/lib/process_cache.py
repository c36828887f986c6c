"""Small per-process caches for values read on hot paths (senders, rules, API keys).

Each cache keeps values for a fixed number of seconds in this process only: an admin change
shows in other processes after that long, at once in the process that made it if it calls
`forget`. `clear_all` empties every cache (tests call it between tests).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")

_caches: list[ProcessCache] = []


class ProcessCache(Generic[V]):
    """Values by key, each trusted for `seconds` (None: until forgotten); at most
    `max_entries` keys, after which the cache starts again empty."""

    def __init__(self, name: str, *, seconds: float | None, max_entries: int = 10_000) -> None:
        self.name = name
        self.seconds = seconds
        self.max_entries = max_entries
        self._entries: dict[Hashable, tuple[float, V]] = {}
        _caches.append(self)

    def get_or_load(self, key: Hashable, load: Callable[[], V]) -> V:
        """The cached value for `key`, or `load()` (cached, None included) when absent or old."""
        found, value = self.lookup(key)
        if not found:
            value = load()
            self.put(key, value)
        return value

    def lookup(self, key: Hashable) -> tuple[bool, V | None]:
        """(True, value) while `key` is cached and fresh; (False, None) otherwise."""
        entry = self._entries.get(key)
        if entry is not None and entry[0] > time.monotonic():
            return True, entry[1]
        return False, None

    def put(self, key: Hashable, value: V) -> None:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        expires = float("inf") if self.seconds is None else time.monotonic() + self.seconds
        self._entries[key] = (expires, value)

    def __contains__(self, key: Hashable) -> bool:
        return self.lookup(key)[0]

    def forget(self, key: Hashable | None = None) -> None:
        """Drop one key, or every key."""
        if key is None:
            self._entries.clear()
        else:
            self._entries.pop(key, None)


def clear_all() -> None:
    """Empty every process cache."""
    for cache in _caches:
        cache.forget()
