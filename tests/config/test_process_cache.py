"""`config.lib.process_cache`: values kept per process for a while, all cleared in one call."""

from config.lib import process_cache
from config.lib.process_cache import ProcessCache


def test_it_loads_once_then_serves_the_cached_value_including_none(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(process_cache.time, "monotonic", lambda: clock[0])
    cache = ProcessCache("test", seconds=10)
    loads = []
    assert cache.get_or_load("a", lambda: loads.append(1)) is None
    assert cache.get_or_load("a", lambda: loads.append(2)) is None
    assert loads == [1]
    clock[0] += 10.5  # past its time: read again
    cache.get_or_load("a", lambda: loads.append(3))
    assert loads == [1, 3]


def test_forget_drops_one_key_and_clear_all_drops_every_cache():
    first, second = ProcessCache("one", seconds=60), ProcessCache("two", seconds=None)
    first.put("a", 1)
    first.put("b", 2)
    second.put("c", 3)
    first.forget("a")
    assert first.lookup("a") == (False, None)
    assert first.lookup("b") == (True, 2)
    process_cache.clear_all()
    assert "b" not in first
    assert "c" not in second


def test_it_starts_again_empty_when_full():
    cache = ProcessCache("small", seconds=60, max_entries=2)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("c", 3)
    assert ("a" in cache, "c" in cache) == (False, True)
