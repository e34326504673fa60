"""Changes to an account and their modification sequences (RFC 7162).

Every write transaction that changes mail takes one modseq from the account's
counter (meta 'modseq') the first time it needs one, stamps what it touches with
it, and records a :class:`Change` per message or mailbox. The changes are
published only after the commit (store/notify.py); a rolled-back transaction
publishes nothing. Modseqs come from one counter per account, so they grow
strictly within each mailbox too (RFC 7162 §3.1.1: per-mailbox HIGHESTMODSEQ).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from enum import StrEnum

from postel.store.message import Message

# Removed UIDs kept per mailbox for VANISHED (EARLIER) (RFC 7162 §3.2.10). Past
# a tenth more than VANISHED_KEEP the oldest (by modseq) are trimmed back to it
# in the removing transaction, so a trim happens once per VANISHED_KEEP / 10
# removals; the mailbox's vanished_floor records the highest modseq trimmed,
# below which a client gets a superset (§3.2.5.2).
VANISHED_KEEP = 10_000


class ChangeKind(StrEnum):
    ADDED = "added"
    FLAGS = "flags"
    REMOVED = "removed"  # also the source side of a move
    MAILBOX_CREATED = "mailbox-created"
    MAILBOX_RENAMED = "mailbox-renamed"
    MAILBOX_DELETED = "mailbox-deleted"


@dataclass(frozen=True, slots=True)
class Change:
    """One committed change: *uid* for message changes (0 for mailbox ones),
    *old_name* for a rename (then *mailbox* is the new name)."""

    kind: ChangeKind
    mailbox: str
    modseq: int
    uid: int = 0
    old_name: str = ""


@dataclass(frozen=True)
class MailboxChanges:
    """What changed in a mailbox after a modseq (RFC 7162 §3.2.5 CHANGEDSINCE,
    §3.2.10 VANISHED (EARLIER)): messages whose flags or presence changed, with
    their modseq set, and the UIDs removed since."""

    mailbox: str
    uidvalidity: int
    highestmodseq: int
    changed: list[Message] = field(default_factory=list)
    vanished: list[int] = field(default_factory=list)
    # False when removals after the modseq asked for were trimmed: *vanished*
    # then holds only those kept, and the caller works out the rest.
    vanished_complete: bool = True


class ChangeLog:
    """The bookkeeping of one open write transaction."""

    __slots__ = ("_conn", "_keep", "_modseq", "changes")

    def __init__(self, conn: sqlite3.Connection, *, keep: int = VANISHED_KEEP) -> None:
        self._conn = conn
        self._keep = keep
        self._modseq = 0
        self.changes: list[Change] = []

    def modseq(self) -> int:
        """This transaction's modseq, taken from the counter on first use."""
        if not self._modseq:
            row = self._conn.execute(
                "UPDATE meta SET value = value + 1 WHERE key = 'modseq' RETURNING value"
            ).fetchone()
            self._modseq = int(row[0])
        return self._modseq

    def mark(self) -> int:
        return len(self.changes)

    def rollback_to(self, mark: int) -> None:
        """Forget the changes recorded after *mark* (rolled back to a savepoint)."""
        del self.changes[mark:]

    def touch(self, mailbox_id: int) -> int:
        """Raise the HIGHESTMODSEQ of a mailbox to this transaction's modseq."""
        modseq = self.modseq()
        self._conn.execute(
            "UPDATE mailbox SET highestmodseq = ? WHERE id = ?", (modseq, mailbox_id)
        )
        return modseq

    def added(self, mailbox: str, uid: int) -> None:
        """A message row inserted with modseq = self.modseq() (the caller raises
        the mailbox's HIGHESTMODSEQ in its own UPDATE)."""
        self.changes.append(Change(ChangeKind.ADDED, mailbox, self.modseq(), uid))

    def flags(self, mailbox_id: int, mailbox: str, msgid: int, uid: int) -> None:
        modseq = self.touch(mailbox_id)
        self._conn.execute("UPDATE message SET modseq = ? WHERE id = ?", (modseq, msgid))
        self.changes.append(Change(ChangeKind.FLAGS, mailbox, modseq, uid))

    def flags_batch(self, mailbox_id: int, mailbox: str, uids: list[int]) -> int:
        """Flags of *uids* changed; the caller stamps their rows with the
        returned modseq (one UPDATE for many messages)."""
        modseq = self.touch(mailbox_id)
        self.changes.extend(Change(ChangeKind.FLAGS, mailbox, modseq, uid) for uid in uids)
        return modseq

    def removed(self, mailbox_id: int, mailbox: str, uid: int) -> None:
        """A message left the mailbox: its UID is remembered as vanished (the
        oldest trimmed when the mailbox keeps too many)."""
        modseq = self.modseq()
        inserted = self._conn.execute(
            "INSERT OR IGNORE INTO vanished (mailbox_id, uid, modseq) VALUES (?, ?, ?)",
            (mailbox_id, uid, modseq),
        ).rowcount
        if inserted:
            row = self._conn.execute(
                "UPDATE mailbox SET highestmodseq = ?, vanished_rows = vanished_rows + 1 "
                "WHERE id = ? RETURNING vanished_rows",
                (modseq, mailbox_id),
            ).fetchone()
            if int(row[0]) > self._keep + max(1, self._keep // 10):
                self._trim(mailbox_id, int(row[0]))
        else:  # already recorded (a UID is never reused): only its modseq moves
            self.touch(mailbox_id)
            self._conn.execute(
                "UPDATE vanished SET modseq = ? WHERE mailbox_id = ? AND uid = ?",
                (modseq, mailbox_id, uid),
            )
        self.changes.append(Change(ChangeKind.REMOVED, mailbox, modseq, uid))

    def _trim(self, mailbox_id: int, rows: int) -> None:
        """Drop the oldest removed UIDs of a mailbox down to at most the kept
        number: whole modseqs, so the list stays complete above the floor."""
        floor = self._conn.execute(
            "SELECT modseq FROM vanished WHERE mailbox_id = ? ORDER BY modseq LIMIT 1 OFFSET ?",
            (mailbox_id, rows - self._keep - 1),
        ).fetchone()[0]
        dropped = self._conn.execute(
            "DELETE FROM vanished WHERE mailbox_id = ? AND modseq <= ?", (mailbox_id, floor)
        ).rowcount
        self._conn.execute(
            "UPDATE mailbox SET vanished_rows = vanished_rows - ?, "
            "vanished_floor = max(vanished_floor, ?) WHERE id = ?",
            (dropped, floor, mailbox_id),
        )

    def mailbox_created(self, mailbox_id: int, mailbox: str) -> None:
        self.changes.append(Change(ChangeKind.MAILBOX_CREATED, mailbox, self.touch(mailbox_id)))

    def mailbox_renamed(self, old: str, new: str) -> None:
        self.changes.append(Change(ChangeKind.MAILBOX_RENAMED, new, self.modseq(), old_name=old))

    def mailbox_deleted(self, mailbox_id: int, mailbox: str) -> None:
        self._conn.execute("DELETE FROM vanished WHERE mailbox_id = ?", (mailbox_id,))
        self.changes.append(Change(ChangeKind.MAILBOX_DELETED, mailbox, self.modseq()))


def highest_modseq(conn: sqlite3.Connection) -> int:
    """The account's latest modseq (what the change feed re-checks)."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'modseq'").fetchone()
    return int(row[0]) if row is not None else 0
