"""The feature probabilities a process keeps are one budget shared by its
accounts (postel.junk.cache): a busy account may use all of it, and another
account's lookups make room by emptying the largest cache."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from postel.junk import cache as cachemod
from postel.junk.cache import TellingCache


def lookup_all(keys: dict[int, str]) -> Iterable[tuple[int, int, int]]:
    return [(k, 0, 5) for k in keys]  # every feature seen in 5 spam


def cached(c: TellingCache, features: list[str]) -> set[str]:
    misses: list[str] = []

    def counting(keys: dict[int, str]) -> Iterable[tuple[int, int, int]]:
        misses.extend(keys.values())
        return lookup_all(keys)

    c.telling(features, counting)
    return set(features) - set(misses)


def test_one_account_may_use_the_whole_budget_and_another_makes_room(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cachemod, "MAX_CACHED", cachemod._total[0] + 100)
    busy, other = TellingCache(), TellingCache()
    for c in (busy, other):
        c.check(1, (10, 10))
    first = [f"busy{i}" for i in range(80)]
    busy.telling(first, lookup_all)
    assert cached(busy, first) == set(first)  # 80 of the 100: more than a fair share
    second = [f"other{i}" for i in range(30)]
    other.telling(second, lookup_all)
    assert cached(other, second) == set(second)
    # The largest cache was emptied to make room; the other keeps its own.
    assert cached(busy, first[:10]) == set()


def test_the_budget_follows_caches_that_are_emptied_or_gone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    start = cachemod._total[0]
    c = TellingCache()
    c.check(1, (10, 10))
    c.telling([f"f{i}" for i in range(50)], lookup_all)
    assert cachemod._total[0] == start + 50
    c.check(2, (11, 10))  # trained elsewhere: emptied
    assert cachemod._total[0] == start
    c.telling([f"f{i}" for i in range(20)], lookup_all)
    assert cachemod._total[0] == start + 20
    del c
    import gc

    gc.collect()
    assert cachemod._total[0] == start
