"""SEARCHRES (RFC 5182): SEARCH RETURN (SAVE) keeps its result in the
session, and "$" in a later command's sequence set names those messages: pure.

The result is kept as UIDs, so it names the same messages after expunges and
in both UID and sequence number commands (§2.1); the session empties it on
SELECT, EXAMINE, CLOSE and UNSELECT."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from postel.imapserver import searchkeys as sk
from postel.imapserver.command import Command
from postel.imapserver.seqset import SeqSet

SAVE = "SAVE"


def saves(returns: tuple[str, ...] | None) -> bool:
    return returns is not None and SAVE in returns


def only_saves(returns: tuple[str, ...] | None) -> bool:
    """RETURN (SAVE) alone: no ESEARCH response (RFC 5182 §2.4)."""
    return returns is not None and set(returns) == {SAVE}


def to_save(returns: tuple[str, ...], uids: Sequence[int]) -> list[int]:
    """The UIDs to keep from a result (ascending *uids*): with MIN and/or MAX
    but neither ALL nor COUNT only those, else all of them (RFC 5182 §2.4)."""
    if not uids:
        return []
    if ("MIN" in returns or "MAX" in returns) and not ("ALL" in returns or "COUNT" in returns):
        kept = set()
        if "MIN" in returns:
            kept.add(uids[0])
        if "MAX" in returns:
            kept.add(uids[-1])
        return sorted(kept)
    return list(uids)


def as_seqset(numbers: Sequence[int]) -> SeqSet:
    """Ascending numbers as ranges (an empty set names nothing)."""
    ranges: list[tuple[int, int]] = []
    for n in numbers:
        if ranges and ranges[-1][1] == n - 1:
            ranges[-1] = (ranges[-1][0], n)
        else:
            ranges.append((n, n))
    return SeqSet(tuple(ranges))


def _bind_key(key: sk.Key, by_uid: SeqSet) -> sk.Key:
    if isinstance(key, sk.Seq):
        return sk.Seq(by_uid, uid=True) if key.seqset.saved else key
    if isinstance(key, sk.Not):
        return sk.Not(_bind_key(key.key, by_uid))
    if isinstance(key, sk.Or):
        return sk.Or(_bind_key(key.a, by_uid), _bind_key(key.b, by_uid))
    if isinstance(key, sk.And):
        return sk.And(tuple(_bind_key(k, by_uid) for k in key.keys))
    return key


def bind(cmd: Command, saved: Sequence[int], msn: Callable[[int], int]) -> None:
    """Replace "$" in *cmd* by the *saved* UIDs (UID commands, SEARCH keys) or
    their sequence numbers (*msn*: 0 for an expunged message), RFC 5182 §2.1."""
    by_uid = as_seqset(saved)
    if cmd.seqset is not None and cmd.seqset.saved:
        if cmd.uid:
            cmd.seqset = by_uid
        else:
            cmd.seqset = as_seqset(sorted(n for n in map(msn, saved) if n))
    if cmd.search is not None:
        cmd.search = dataclasses.replace(cmd.search, key=_bind_key(cmd.search.key, by_uid))
