"""The feature probabilities a process keeps of one account (pure, no I/O):
a feature looked up once serves the next messages until the account is
trained again, here or in another process or node (bench/NOTES.md, junk
filter cost). Valid for one training generation and the totals read with it;
the store reads those with every filing and hands them to :meth:`check`."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from postel.junk.classify import telling_probability
from postel.junk.keys import feature_keys

# Feature probabilities kept per account (about 2 MB at most).
MAX_CACHED = 20_000

# (key, ham, spam) rows of the feature keys an account has seen.
Lookup = Callable[[dict[int, str]], Iterable[tuple[int, int, int]]]


class TellingCache:
    def __init__(self) -> None:
        # feature -> its probability (classify.telling_probability), None
        # when it says nothing or the account never saw it.
        self._cache: dict[str, float | None] = {}
        self._generation = -1
        self.totals = (0, 0)

    def check(self, generation: int, totals: tuple[int, int]) -> None:
        """The account's training generation and (ham, spam) totals as read
        now: the cache is emptied when they changed."""
        if generation != self._generation or totals != self.totals:
            self._cache.clear()
            self._generation = generation
            self.totals = totals

    def invalidate(self) -> None:
        """The counts change (a training in this process)."""
        self._cache.clear()
        self._generation = -1
        self.totals = (-1, -1)

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
        if len(cache) + len(missing) > MAX_CACHED:
            cache.clear()
        if len(missing) <= MAX_CACHED:
            cache.update(found)
        return out
