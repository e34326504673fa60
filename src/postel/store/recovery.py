"""The recovery pass: index rows whose message file did not survive a crash.

A delivery links its new file into msg/, then fsyncs the file while the index
row commits (store/placing.py); SMTP says 250 only after both are durable. A
crash between the two can leave a committed row whose file is missing or
shorter than recorded: that message was never acknowledged. The pass removes
such rows (logged one line each, with the account and msgid), recording their
UIDs as vanished like an expunge (RFC 7162 §3.2.10), so UIDs are not reused
and CONDSTORE/QRESYNC clients see them go.

It is quick for a large store: only rows above the account's checkpoint
(meta CHECKPOINT_KEY) are looked at. The pass fsyncs the files it finds
whole, and their directories, then raises the checkpoint to the newest row.
It removes rows only at start, before anything delivers, and at a clean
shutdown, after everything stopped delivering (server.py); while the server
runs, :meth:`Recovery.advance_checkpoint` raises the checkpoint every
minute without removing anything, so that verifydata and backup treat only
the last minute's rows as possibly cut short.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from dataclasses import dataclass, field

from postel.datadir import message_path
from postel.fsutil import fsync_dir
from postel.store.accountbase import AccountBase
from postel.store.changes import ChangeLog
from postel.store.names import parse_flags

log = logging.getLogger("postel.store")

# meta key: every message row with an id up to this value has a durable, whole file.
CHECKPOINT_KEY = "files_checked_through"


@dataclass
class Recovered:
    """What one pass over an account found."""

    account: str
    checked: int = 0  # rows above the checkpoint
    removed: list[int] = field(default_factory=list)  # msgids of the rows removed
    checkpoint: int = 0  # the checkpoint afterwards


def checkpoint(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (CHECKPOINT_KEY,)).fetchone()
    return int(row[0]) if row is not None else 0


def file_state(path: os.PathLike[str] | str, size: int) -> str:
    """'ok', 'missing' or 'short' (fewer bytes than the *size* recorded)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "missing"
    return "short" if st.st_size < size else "ok"


def drop_rows(conn: sqlite3.Connection, changelog: ChangeLog, msgids: list[int]) -> None:
    """Delete the rows *msgids* inside the open write transaction, as an
    expunge does: UIDs recorded as vanished, mailbox counters lowered."""
    for msgid in msgids:
        row = conn.execute(
            "SELECT m.uid, m.mailbox_id, m.size, m.flags, b.name FROM message m "
            "JOIN mailbox b ON b.id = m.mailbox_id WHERE m.id = ?",
            (msgid,),
        ).fetchone()
        if row is None:
            continue
        uid, mailbox_id, size, flags, name = row
        changelog.removed(int(mailbox_id), str(name), int(uid))
        unseen = 0 if "\\Seen" in parse_flags(flags) else 1
        conn.execute("DELETE FROM message WHERE id = ?", (msgid,))
        conn.execute(
            "UPDATE mailbox SET total = total - 1, unseen = unseen - ?, size = size - ? "
            "WHERE id = ?",
            (unseen, int(size), int(mailbox_id)),
        )


class Recovery(AccountBase):
    """The recovery pass of one account (part of AccountStore)."""

    def recover(self) -> Recovered:
        """Remove the rows above the checkpoint whose file is missing or short,
        make the others durable and raise the checkpoint. Only while no
        process delivers to this account (at start or after a clean stop)."""
        return self._pass(remove=True)

    def advance_checkpoint(self) -> Recovered:
        """While deliveries go on: make the files of the rows above the
        checkpoint durable (their own fsync may still be running) and raise
        the checkpoint up to the first row whose file is not whole, which is
        left for the pass at the next start. Keeps the rows verifydata and
        backup treat leniently to the last minutes."""
        return self._pass(remove=False)

    def _pass(self, *, remove: bool) -> Recovered:
        done = Recovered(self.name)
        with self._lock:
            self._check_open()
            since = checkpoint(self._conn)
            rows = self._conn.execute(
                "SELECT id, size FROM message WHERE id > ? ORDER BY id", (since,)
            ).fetchall()
        done.checked = len(rows)
        done.checkpoint = since
        if not rows:
            return done
        # Rows committed by a delivery in flight have their whole file (it is
        # written before it is linked, and linked before the commit).
        buckets: dict[int, None] = {}
        upto = int(rows[-1][0])
        for msgid, size in rows:
            path = message_path(self.dir, int(msgid))
            state = file_state(path, int(size))
            if state == "ok":
                _fsync_file(path)
                buckets[int(msgid) // 1000] = None
                continue
            if not self._row_exists(int(msgid)):
                continue  # removed meanwhile (expunge: the row first, then the file)
            if not remove:
                upto = int(msgid) - 1
                break
            done.removed.append(int(msgid))
            log.warning(
                "index row without its whole file removed (never acknowledged)",
                extra={"account": self.name, "msgid": int(msgid), "file": state, "size": int(size)},
            )
        for bucket in buckets:
            fsync_dir(self.dir / "msg" / str(bucket))
        with self._lock:
            self._check_open()
            with self._write():
                drop_rows(self._conn, self._changes(), done.removed)
                self._conn.execute(
                    "UPDATE meta SET value = max(value, ?) WHERE key = ?", (upto, CHECKPOINT_KEY)
                )
                self._conn.execute(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", (CHECKPOINT_KEY, upto)
                )
            done.checkpoint = checkpoint(self._conn)
        for msgid in done.removed:
            message_path(self.dir, msgid).unlink(missing_ok=True)
        return done

    def _row_exists(self, msgid: int) -> bool:
        with self._lock:
            row = self._conn.execute("SELECT 1 FROM message WHERE id = ?", (msgid,)).fetchone()
        return row is not None


def _fsync_file(path: os.PathLike[str] | str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
