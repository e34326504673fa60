"""An account's whole token table in a process's memory (no I/O): the feature
keys (junk/keys.py) sorted in one array, their ham and spam counts in two
more, 16 bytes a feature. A filing finds its features here by bisection
instead of asking the database; a feature the account never saw costs one
bisection. Valid for the one training generation it was read at
(postel.junk.cache decides when it is read and dropped)."""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Iterable

BYTES_PER_KEY = 16  # 8 for the key, 4 each for the ham and spam counts
_MAX_COUNT = 2**31 - 1  # array("i")


class TokenIndex:
    __slots__ = ("_ham", "_keys", "_spam")

    def __init__(self, keys: array[int], ham: array[int], spam: array[int]) -> None:
        self._keys = keys
        self._ham = ham
        self._spam = spam

    @classmethod
    def build(cls, rows: Iterable[tuple[int, int, int]], limit: int) -> TokenIndex | None:
        """The index of (key, ham, spam) *rows* sorted by key; None when there
        are more than *limit*, a count does not fit, or they are not sorted."""
        keys: array[int] = array("q")
        ham: array[int] = array("i")
        spam: array[int] = array("i")
        for k, h, s in rows:
            if len(keys) >= limit or h > _MAX_COUNT or s > _MAX_COUNT:
                return None
            if keys and k <= keys[-1]:
                return None
            keys.append(k)
            ham.append(h)
            spam.append(s)
        return cls(keys, ham, spam)

    def __len__(self) -> int:
        return len(self._keys)

    def rows(self, wanted: dict[int, str]) -> list[tuple[int, int, int]]:
        """(key, ham, spam) of the *wanted* keys the account has seen (the
        lookup of postel.junk.cache.TellingCache.telling)."""
        keys, ham, spam, n = self._keys, self._ham, self._spam, len(self._keys)
        out: list[tuple[int, int, int]] = []
        for k in wanted:
            i = bisect_left(keys, k)
            if i < n and keys[i] == k:
                out.append((k, ham[i], spam[i]))
        return out
