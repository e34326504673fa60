"""The feature probabilities a process keeps of one account (no I/O):
a feature looked up once serves the next messages until the account is
trained again, here or in another process or node (bench/NOTES.md, junk
filter cost). Valid for one training generation and the totals read with it;
the store reads those with every filing and hands them to :meth:`check`."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterable

from postel.junk.classify import telling_probability
from postel.junk.keys import feature_keys

# Feature probabilities kept per process, shared by its accounts' caches
# (about 100 bytes each: 6 MB at most). When a lookup would go beyond, the
# largest cache is emptied: the busiest account's, most often the one
# looking up (bench/NOTES.md, junk filter cost).
MAX_CACHED = 60_000

_caches: weakref.WeakSet[TellingCache] = weakref.WeakSet()
_lock = threading.RLock()  # a finalizer may run while it is held
_total = [0]  # entries in all of them


def _make_room(wanted: int) -> None:
    """Count *wanted* more entries; first empty the largest caches of the
    process while they would not fit."""
    with _lock:
        if _total[0] + wanted > MAX_CACHED:
            for c in sorted(_caches, key=lambda c: len(c._cache), reverse=True):
                if _total[0] + wanted <= MAX_CACHED:
                    break
                _total[0] -= len(c._cache)
                c._cache.clear()
        _total[0] += wanted


# (key, ham, spam) rows of the feature keys an account has seen.
Lookup = Callable[[dict[int, str]], Iterable[tuple[int, int, int]]]


def _forget(cache: dict[str, float | None]) -> None:
    with _lock:
        _total[0] -= len(cache)


class TellingCache:
    def __init__(self) -> None:
        # feature -> its probability (classify.telling_probability), None
        # when it says nothing or the account never saw it.
        self._cache: dict[str, float | None] = {}
        self._generation = -1
        self.totals = (0, 0)
        with _lock:
            _caches.add(self)
        weakref.finalize(self, _forget, self._cache)

    def check(self, generation: int, totals: tuple[int, int]) -> None:
        """The account's training generation and (ham, spam) totals as read
        now: the cache is emptied when they changed."""
        if generation != self._generation or totals != self.totals:
            self._clear()
            self._generation = generation
            self.totals = totals

    def invalidate(self) -> None:
        """The counts change (a training in this process)."""
        self._clear()
        self._generation = -1
        self.totals = (-1, -1)

    def _clear(self) -> None:
        with _lock:
            _total[0] -= len(self._cache)
            self._cache.clear()

    def telling(self, features: Iterable[str], lookup: Lookup) -> list[tuple[str, float]]:
        """The (feature, probability) of the *features* that tell something,
        at the totals :meth:`check` saw last: from the cache when they were
        looked up since, else by *lookup* (and then cached)."""
        cache = self._cache
        out: list[tuple[str, float]] = []
        missing: list[str] = []
        for f in features:
            if f in cache:
                p = cache[f]
                if p is not None:
                    out.append((f, p))
            else:
                missing.append(f)
        if not missing:
            return out
        ham_messages, spam_messages = self.totals
        found: dict[str, float | None] = dict.fromkeys(missing)
        keys = feature_keys(missing)
        for key, ham, spam in lookup(keys):
            p = telling_probability(ham, spam, ham_messages, spam_messages)
            if p is not None:
                token = keys[key]
                found[token] = p
                out.append((token, p))
        if len(missing) <= MAX_CACHED:
            _make_room(len(missing))
            cache.update(found)
        return out
