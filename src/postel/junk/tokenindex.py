"""An account's whole token table in a process's memory (no I/O): an open
addressing hash table of the feature keys (junk/keys.py) in one array, their
ham and spam counts in two more at the same places. A filing finds its
features here instead of asking the database; a feature the account never
saw costs one or two array reads (a bisection of a sorted array cost ten
times as much: bench/NOTES.md). Valid for the one training generation it was
read at (postel.junk.cache decides when it is read and dropped)."""

from __future__ import annotations

from array import array
from collections.abc import Iterable

# A table of a power of two slots, at most 70 % full: 16 bytes a slot (8 for
# the key, 4 each for the counts), 23 to 46 bytes a key.
MAX_LOAD = 0.7
SLOT_BYTES = 16
_EMPTY = 0  # a free slot; the key 0 itself is kept aside


class TokenIndex:
    __slots__ = ("_ham", "_keys", "_mask", "_spam", "_used", "_zero")

    def __init__(self, size: int) -> None:
        self._keys: array[int] = array("q", bytes(8 * size))
        self._ham: array[int] = array("i", bytes(4 * size))
        self._spam: array[int] = array("i", bytes(4 * size))
        self._mask = size - 1
        self._used = 0
        self._zero: tuple[int, int] | None = None  # the counts of the key 0

    @classmethod
    def build(cls, rows: Iterable[tuple[int, int, int]], max_slots: int) -> TokenIndex | None:
        """The index of the (key, ham, spam) *rows* (each key once); None
        when it would need more than *max_slots* or a count does not fit."""
        # Read into plain arrays first (16 bytes a row), then placed in a
        # table of the right size at once.
        keys: array[int] = array("q")
        hams: array[int] = array("i")
        spams: array[int] = array("i")
        most = int(max_slots * MAX_LOAD)
        try:
            for k, h, s in rows:
                if len(keys) >= most:
                    return None
                keys.append(k)
                hams.append(h)
                spams.append(s)
        except OverflowError:  # a count beyond array("i")
            return None
        size = 8
        while size * MAX_LOAD < len(keys):
            size *= 2
        index = cls(size)
        table, ham, spam, mask = index._keys, index._ham, index._spam, index._mask
        for i, k in enumerate(keys):
            if k == _EMPTY:
                index._zero = (hams[i], spams[i])
                continue
            j = k & mask
            while table[j] != _EMPTY:
                j = (j + 1) & mask
            table[j], ham[j], spam[j] = k, hams[i], spams[i]
        index._used = len(keys)
        return index

    def __len__(self) -> int:
        return self._used

    @property
    def slots(self) -> int:
        return len(self._keys)

    def rows(self, wanted: dict[int, str]) -> list[tuple[int, int, int]]:
        """(key, ham, spam) of the *wanted* keys the account has seen (the
        lookup of postel.junk.cache.TellingCache.telling)."""
        keys, ham, spam, mask = self._keys, self._ham, self._spam, self._mask
        out: list[tuple[int, int, int]] = []
        for k in wanted:
            if k == _EMPTY:
                if self._zero is not None:
                    out.append((k, *self._zero))
                continue
            j = k & mask
            while (t := keys[j]) != k:
                if t == _EMPTY:
                    break
                j = (j + 1) & mask
            else:
                out.append((k, ham[j], spam[j]))
        return out
