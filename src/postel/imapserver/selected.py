"""The selected mailbox of a session: its UIDs in order, which give the
message sequence numbers (RFC 9051 §2.3.1.2), and how they changed since,
found from the store's modseqs (RFC 7162): what changed after the modseq the
session last saw."""

from __future__ import annotations

import bisect
from array import array
from dataclasses import dataclass, field

from postel.imapserver.storeapi import MailStore
from postel.imapserver.vanished import gone_from
from postel.store import Message


@dataclass
class Selected:
    name: str  # the store's name
    readonly: bool
    uidvalidity: int
    uidnext: int
    highestmodseq: int = 0  # what this session has seen of the mailbox
    uids: array[int] = field(default_factory=lambda: array("I"))
    # UID -> modseq of flag changes this session made and announced itself
    own: dict[int, int] = field(default_factory=dict)

    def msn(self, uid: int) -> int:
        """The sequence number of *uid*, 0 when it is not in the mailbox."""
        i = bisect.bisect_left(self.uids, uid)
        return i + 1 if i < len(self.uids) and self.uids[i] == uid else 0

    @property
    def exists(self) -> int:
        return len(self.uids)

    @property
    def largest_uid(self) -> int:
        return self.uids[-1] if self.uids else 0


def load(store: MailStore, name: str, readonly: bool) -> Selected:
    # The mailbox's modseq is read before its UIDs: a change in between is
    # announced once more later, never missed.
    info = store.mailbox(name)
    sel = Selected(info.name, readonly, info.uidvalidity, info.uidnext, info.highestmodseq)
    sel.uids = store.uids(info.name)
    return sel


@dataclass(frozen=True)
class Delta:
    expunged: list[int]  # sequence numbers, highest first, each valid when sent
    vanished: list[int]  # the same messages' UIDs, ascending
    exists: int | None  # the new count, None when unchanged
    flags: list[tuple[int, Message]]  # (sequence number, message) changed elsewhere


NOTHING = Delta([], [], None, [])


def refresh(store: MailStore, sel: Selected) -> Delta:
    """Bring *sel* up to date with the store (to be announced by the caller).
    One read of the mailbox row when nothing changed; otherwise only what
    changed after the modseq last seen."""
    info = store.mailbox(sel.name)
    if info.highestmodseq == sel.highestmodseq and info.uidnext == sel.uidnext:
        return NOTHING
    changes = store.changes_since(sel.name, sel.highestmodseq)
    if changes.vanished_complete:
        gone = {uid for uid in changes.vanished if sel.msn(uid)}
    else:  # removals since were trimmed: compare with the mailbox's UIDs now
        gone = gone_from(sel.uids, store.uids(sel.name))
    expunged = [sel.msn(uid) for uid in sorted(gone, reverse=True)]
    flags: list[tuple[int, Message]] = []
    added = array("I")
    for msg in changes.changed:
        if msg.uid in gone:
            continue
        if sel.msn(msg.uid):
            if sel.own.get(msg.uid) != msg.modseq:
                flags.append((msg.uid, msg))
        elif msg.uid > sel.largest_uid:
            added.append(msg.uid)
    if gone:
        sel.uids = array("I", (u for u in sel.uids if u not in gone))
    old_count = len(sel.uids)
    sel.uids.extend(added)
    sel.uidnext = max(sel.uidnext, info.uidnext)
    sel.highestmodseq = max(sel.highestmodseq, changes.highestmodseq)
    sel.own.clear()
    # Sequence numbers after the expunges (EXPUNGE responses come first).
    numbered = [(sel.msn(uid), msg) for uid, msg in flags]
    return Delta(
        expunged, sorted(gone), len(sel.uids) if len(sel.uids) != old_count else None, numbered
    )
