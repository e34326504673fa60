"""The feature probabilities a process keeps of one account (no I/O):
a feature looked up once serves the next messages until the account is
trained again, here or in another process or node (bench/NOTES.md, junk
filter cost). Valid for one training generation and the totals read with it;
the store reads those with every filing and hands them to :meth:`check`.
The features not cached are found in the account's whole token table read
into memory (postel.junk.tokenindex) when it fits, else in the database."""

from __future__ import annotations

import math
import threading
import time
import weakref
from collections.abc import Callable, Iterable

from postel.junk.classify import telling_probability
from postel.junk.keys import feature_keys
from postel.junk.tokenindex import MAX_LOAD, TokenIndex

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
            for c in sorted(_caches, key=lambda c: c._entries(), reverse=True):
                if _total[0] + wanted <= MAX_CACHED:
                    break
                _total[0] -= c._entries()
                c._cache.clear()
                c._silent.clear()
        _total[0] += wanted


# Slots of the accounts' token tables kept in memory per process
# (junk/tokenindex.py: 16 bytes each, 16 MB in all; an account's table has
# 1.4 to 2.9 slots a feature: up to 734,000 features). An account with more
# is looked up in its database as before; to make room for another account,
# the largest table is dropped.
MAX_INDEXED = 2**20
# After a training, an account's table is read again at most this often (in
# seconds, per process: reading 250,000 features takes 0.3 to 0.5 s of CPU, a
# filing of the account waiting for it); in the meantime its features are
# looked up in its database.
REINDEX_INTERVAL = 30.0

_indexed = [0]  # slots of all the indexes of the process


def _index_room(wanted: int) -> bool:
    """Count *wanted* more slots, dropping the largest indexes of the
    process while they would not fit; False when *wanted* is too many."""
    if wanted > MAX_INDEXED:
        return False
    with _lock:
        if _indexed[0] + wanted > MAX_INDEXED:
            for c in sorted(_caches, key=lambda c: c._index_size, reverse=True):
                if _indexed[0] + wanted <= MAX_INDEXED:
                    break
                c._drop_index()
        _indexed[0] += wanted
    return True


# (key, ham, spam) rows of the feature keys an account has seen.
Lookup = Callable[[dict[int, str]], Iterable[tuple[int, int, int]]]
# (key, ham, spam) of all the account's feature keys in key order, at most
# the given number plus one (to tell that there are more).
Scan = Callable[[int], Iterable[tuple[int, int, int]]]


def _forget(cache: dict[str, float], silent: set[str], index_slots: list[int]) -> None:
    with _lock:
        _total[0] -= len(cache) + len(silent)
        _indexed[0] -= index_slots[0]


class TellingCache:
    def __init__(self) -> None:
        # feature -> its probability (classify.telling_probability) when it
        # tells something; the features that say nothing or the account never
        # saw apart (found by set operations, not a loop over the features).
        self._cache: dict[str, float] = {}
        self._silent: set[str] = set()
        self._generation = -1
        self.totals = (0, 0)
        # The account's token table as of self._generation (None: not read).
        self._index: TokenIndex | None = None
        self._index_slots = [0]  # shared with the finalizer
        self._scanned = -math.inf  # time.monotonic() of the last reading
        with _lock:
            _caches.add(self)
        weakref.finalize(self, _forget, self._cache, self._silent, self._index_slots)

    @property
    def _index_size(self) -> int:
        return self._index_slots[0]

    def _drop_index(self) -> None:
        with _lock:
            _indexed[0] -= self._index_slots[0]
            self._index_slots[0] = 0
            self._index = None

    @property
    def indexed(self) -> bool:
        """Whether the account's token table is in memory (tests, benchmarks)."""
        return self._index is not None

    def check(self, generation: int, totals: tuple[int, int]) -> None:
        """The account's training generation and (ham, spam) totals as read
        now: the cache is emptied when they changed."""
        if generation != self._generation or totals != self.totals:
            self._clear()
            self._drop_index()
            self._generation = generation
            self.totals = totals

    def invalidate(self) -> None:
        """The counts change (a training in this process)."""
        self._clear()
        self._drop_index()
        self._generation = -1
        self.totals = (-1, -1)

    def _entries(self) -> int:
        return len(self._cache) + len(self._silent)

    def _clear(self) -> None:
        with _lock:
            _total[0] -= self._entries()
            self._cache.clear()
            self._silent.clear()

    def _indexed_lookup(self, scan: Scan) -> Lookup | None:
        """The in-memory index of the account's table, read by *scan* when
        there is none for this generation and the last reading is
        REINDEX_INTERVAL ago; None: none (too many keys, or read recently)."""
        if self._index is not None:
            return self._index.rows
        if self._generation < 0:
            return None  # trained here: the generation is read again first
        now = time.monotonic()
        if now - self._scanned < REINDEX_INTERVAL:
            return None
        self._scanned = now
        rows = iter(scan(int(MAX_INDEXED * MAX_LOAD)))
        try:
            index = TokenIndex.build(rows, MAX_INDEXED)
        finally:
            close = getattr(rows, "close", None)  # a generator: its statement ends now
            if close is not None:
                close()
        if index is None or not _index_room(index.slots):
            # Too large (tables do not shrink): looked up in the database
            # from now on, not read again each REINDEX_INTERVAL.
            self._scanned = math.inf
            return None
        with _lock:
            self._index = index
            self._index_slots[0] = index.slots
        return index.rows

    def telling(
        self, features: Iterable[str], lookup: Lookup, scan: Scan | None = None
    ) -> list[tuple[str, float]]:
        """The (feature, probability) of the *features* that tell something,
        at the totals :meth:`check` saw last: from the cache when they were
        looked up since, else in the account's table in memory, read by
        *scan* (when given, and it fits), else by *lookup*; then cached."""
        cache, silent = self._cache, self._silent
        wanted = features if isinstance(features, (set, frozenset)) else set(features)
        # Each a loop in C over the message's features (set.difference with
        # a dict or a larger set looks each one up).
        out = [(f, cache[f]) for f in cache.keys() & wanted]
        missing = wanted.difference(cache).difference(silent)
        if not missing:
            return out
        ham_messages, spam_messages = self.totals
        found: dict[str, float] = {}
        keys = feature_keys(missing)
        indexed = self._indexed_lookup(scan) if scan is not None else None
        for key, ham, spam in (indexed or lookup)(keys):
            p = telling_probability(ham, spam, ham_messages, spam_messages)
            if p is not None:
                found[keys[key]] = p
        out.extend(found.items())
        if len(missing) <= MAX_CACHED:
            _make_room(len(missing))
            cache.update(found)
            silent.update(missing.difference(found))
        return out
