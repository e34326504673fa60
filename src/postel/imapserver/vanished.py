"""VANISHED (EARLIER) when the store no longer keeps every removed UID (RFC 7162
§3.2.5.2, §3.2.10): the UIDs of a set that are not in the mailbox now, a
superset of those removed since the client's modseq. Worked out as ranges over
the selected mailbox's UID array, so 1:UIDNEXT-1 is never expanded."""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Iterable


def merge(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Ranges (low <= high) sorted, overlapping and adjacent ones joined."""
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


def absent(
    uids: array[int], bounds: Iterable[tuple[int, int]], uidnext: int
) -> list[tuple[int, int]]:
    """The UIDs of *bounds* below *uidnext* that are not in *uids* (ascending),
    as ranges: the gaps between the mailbox's UIDs inside each range."""
    out: list[tuple[int, int]] = []
    for lo, hi in merge((max(lo, 1), min(hi, uidnext - 1)) for lo, hi in bounds):
        if lo > hi:
            continue
        start = lo
        i = bisect.bisect_left(uids, lo)
        while i < len(uids) and uids[i] <= hi:
            if uids[i] > start:
                out.append((start, uids[i] - 1))
            start = uids[i] + 1
            i += 1
        if start <= hi:
            out.append((start, hi))
    return out


def superset(
    uids: array[int], bounds: Iterable[tuple[int, int]], uidnext: int, kept: Iterable[int]
) -> list[tuple[int, int]]:
    """What to report as vanished when the kept list is partial: every UID of
    *bounds* missing from *uids*, and the kept removed UIDs (those in *bounds*,
    given by the caller) that the session's array still holds."""
    return merge([*absent(uids, bounds, uidnext), *((u, u) for u in kept)])


def format_ranges(ranges: list[tuple[int, int]]) -> str:
    """Ranges as a sequence set "1:3,7" (RFC 9051 §9 "sequence-set")."""
    return ",".join(str(lo) if lo == hi else f"{lo}:{hi}" for lo, hi in ranges)


def gone_from(uids: array[int], now: array[int]) -> set[int]:
    """The UIDs of *uids* not in *now* (both ascending), by one merge walk."""
    gone: set[int] = set()
    j = 0
    for uid in uids:
        while j < len(now) and now[j] < uid:
            j += 1
        if j == len(now) or now[j] != uid:
            gone.add(uid)
    return gone
