"""The selected mailbox of a session: its UIDs in order, which give the
message sequence numbers (RFC 9051 §2.3.1.2), and how they changed since."""

from __future__ import annotations

import bisect
from array import array
from dataclasses import dataclass, field

from postel.imapserver.storeapi import MailStore, iter_messages


@dataclass
class Selected:
    name: str  # the store's name
    readonly: bool
    uidvalidity: int
    uidnext: int
    uids: array[int] = field(default_factory=lambda: array("I"))

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
    info = store.mailbox(name)
    sel = Selected(info.name, readonly, info.uidvalidity, info.uidnext)
    for msg in iter_messages(store, info.name):
        sel.uids.append(msg.uid)
    return sel


@dataclass(frozen=True)
class Delta:
    expunged: list[int]  # sequence numbers, highest first, each valid when sent
    exists: int | None  # the new count, None when unchanged


def refresh(store: MailStore, sel: Selected) -> Delta:
    """Bring *sel* up to date with the store (to be announced by the caller).
    Cheap when nothing changed: UIDs are never reused, so an unchanged count
    and UIDNEXT mean an unchanged mailbox."""
    info = store.mailbox(sel.name)
    if info.uidnext == sel.uidnext and info.total == len(sel.uids):
        return Delta([], None)
    new = array("I")
    if info.total != len(sel.uids) + (info.uidnext - sel.uidnext) or info.uidnext == sel.uidnext:
        for msg in iter_messages(store, sel.name):
            new.append(msg.uid)
    else:  # maybe only additions: read those after the last known UID
        new = array("I", sel.uids)
        for msg in iter_messages(store, sel.name, sel.largest_uid):
            new.append(msg.uid)
        if len(new) != info.total:
            new = array("I", (m.uid for m in iter_messages(store, sel.name)))
    keep = set(new)
    expunged = [i + 1 for i, uid in enumerate(sel.uids) if uid not in keep]
    expunged.reverse()
    old_count = len(sel.uids) - len(expunged)
    sel.uids = new
    sel.uidnext = info.uidnext
    return Delta(expunged, len(new) if len(new) != old_count else None)
