"""Sequence sets (RFC 9051 §9 "sequence-set"): parsed once, resolved against a mailbox."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from postel.imapserver.lexer import Cursor

STAR = 0  # "*": the largest number in use (never a valid number itself)


@dataclass(frozen=True)
class SeqSet:
    """Ranges (low, high) as given, STAR for "*"; "2:4" and "4:2" are the same.
    *saved*: "$", the result of the last SEARCH RETURN (SAVE) (RFC 5182 §2.1),
    to be bound to numbers before use (postel.imapserver.searchres)."""

    ranges: tuple[tuple[int, int], ...]
    saved: bool = False

    def bounds(self, largest: int) -> Iterator[tuple[int, int]]:
        """Each range as (low, high) with "*" replaced by *largest*."""
        for a, b in self.ranges:
            a = largest if a == STAR else a
            b = largest if b == STAR else b
            yield (a, b) if a <= b else (b, a)

    def contains(self, n: int, largest: int) -> bool:
        return any(lo <= n <= hi for lo, hi in self.bounds(largest))

    def members(self, universe: list[int] | tuple[int, ...], largest: int) -> list[int]:
        """The numbers of *universe* (sorted ascending) in this set, ascending."""
        import bisect

        out: set[int] = set()
        for lo, hi in self.bounds(largest):
            i = bisect.bisect_left(universe, lo)
            j = bisect.bisect_right(universe, hi)
            out.update(universe[i:j])
        return sorted(out)

    def __str__(self) -> str:
        def one(n: int) -> str:
            return "*" if n == STAR else str(n)

        if self.saved:
            return "$"
        return ",".join(one(a) if a == b else f"{one(a)}:{one(b)}" for a, b in self.ranges)


def _seq_number(cur: Cursor) -> int:
    if cur.accept(b"*"):
        return STAR
    return cur.nz_number("sequence number")


def parse_seqset(cur: Cursor, saved: bool = True) -> SeqSet:
    """A sequence set, or "$" where *saved* allows it (RFC 5182 §3 "seq-set")."""
    if cur.accept(b"$"):
        if not saved:
            raise cur.error("$ (the saved search result) is not allowed here")
        return SeqSet((), saved=True)
    ranges: list[tuple[int, int]] = []
    while True:
        a = _seq_number(cur)
        b = _seq_number(cur) if cur.accept(b":") else a
        ranges.append((a, b))
        if not cur.accept(b","):
            return SeqSet(tuple(ranges))


def format_uids(uids: list[int]) -> str:
    """Ascending UIDs as a compact set "1:3,7" (for COPYUID, RFC 4315 §3)."""
    out: list[str] = []
    i = 0
    while i < len(uids):
        j = i
        while j + 1 < len(uids) and uids[j + 1] == uids[j] + 1:
            j += 1
        out.append(str(uids[i]) if i == j else f"{uids[i]}:{uids[j]}")
        i = j + 1
    return ",".join(out)
