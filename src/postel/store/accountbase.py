"""What every part of an AccountStore shares: the connection, the locks, the
write transaction and the row helpers (store/account.py puts them together).

All methods are synchronous and serialised by a lock, so one AccountStore can
be shared by threads (e.g. asyncio.to_thread) of one process. Write
transactions of all processes are serialised by an exclusive flock(2) on
index.db-lock next to the database, taken before SQLite's write lock: waiting
writers sleep in the kernel and wake when it is released, instead of polling
in SQLite's busy handler (1, 2, 5, 10 ms sleeps) while the CPU idles.
"""

from __future__ import annotations

import fcntl
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from postel.datadir import message_path
from postel.fsutil import fsync_dir
from postel.store.changes import VANISHED_KEEP, Change, ChangeLog
from postel.store.errors import MailboxNotFound, MessageNotFound, StoreError
from postel.store.message import Message
from postel.store.names import DEFAULT_SPECIAL_USE, normalize_mailbox, parse_flags
from postel.store.schema import MESSAGE_COLUMNS

log = logging.getLogger("postel.store")

INDEX_DB = "index.db"
# Writer lock of index.db (postel.databases lists it with the SQLite side files).
LOCK_FILE = INDEX_DB + "-lock"


def _commit(conn: sqlite3.Connection) -> None:
    """Commit the open transaction (a seam for failure tests)."""
    conn.execute("COMMIT")


def _iso(when: datetime) -> str:
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat(timespec="microseconds")


def _parse_iso(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _ensure_dir(path: Path) -> None:
    """Create *path* (and parents), fsyncing the parent of each new directory."""
    if path.is_dir():
        return
    _ensure_dir(path.parent)
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        return
    fsync_dir(path.parent)


class AccountBase:
    """The state and plumbing of one account's store (see store/account.py)."""

    name: str
    dir: Path
    _tmpdir: Path
    _lock: threading.RLock
    _mailbox_names: dict[str, str]
    _msgdir: Path
    _msgdir_str: str
    _lockfd: int
    _conn: sqlite3.Connection
    _closed: bool
    # Called with the changes of each committed transaction (store/notify.py).
    _publish: Callable[[str, Sequence[Change]], None] | None
    _changelog: ChangeLog | None  # of the open write transaction
    # Removed UIDs kept per mailbox for VANISHED (EARLIER) (store/changes.py).
    vanished_keep: int = VANISHED_KEEP

    # -- plumbing ---------------------------------------------------------

    def _write(self) -> _WriteTx:
        return _WriteTx(self)

    def _flock(self) -> None:
        """Take the cross-process writer lock (before BEGIN IMMEDIATE)."""
        fcntl.flock(self._lockfd, fcntl.LOCK_EX)

    def _funlock(self) -> None:
        fcntl.flock(self._lockfd, fcntl.LOCK_UN)

    def _changes(self) -> ChangeLog:
        """The change log of the open write transaction (store/changes.py)."""
        assert self._changelog is not None, "change outside a write transaction"
        return self._changelog

    def _published(self, changelog: ChangeLog) -> None:
        """After a commit: hand its changes on; a failure here never fails the write."""
        if changelog.changes and self._publish is not None:
            try:
                self._publish(self.name, changelog.changes)
            except Exception as exc:
                log.warning(
                    "change notification not sent", extra={"account": self.name, "err": repr(exc)}
                )

    def _normalize_mailbox(self, name: str) -> str:
        """normalize_mailbox, remembered per name (deliveries repeat a few)."""
        norm = self._mailbox_names.get(name)
        if norm is None:
            norm = normalize_mailbox(name)
            if len(self._mailbox_names) < 1000:
                self._mailbox_names[name] = norm
        return norm

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"account {self.name!r}: store is closed")

    def _mailbox_row(self, name: str) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self._conn.execute(
            "SELECT * FROM mailbox WHERE name = ?", (name,)
        ).fetchone()
        return row

    def _mailbox_id(self, name: str, *, create: bool) -> int:
        """Id of mailbox *name* (normalised); inside a write transaction if create."""
        row = self._mailbox_row(name)
        if row is not None:
            return int(row["id"])
        if not create:
            raise MailboxNotFound(f"account {self.name!r}: no mailbox {name!r}")
        return self._insert_mailbox(name)

    def _insert_mailbox(
        self, name: str, *, special_use: str | None = None, subscribe: bool = True
    ) -> int:
        """Create mailbox *name*. *special_use* None: a default mailbox's own
        (DEFAULT_SPECIAL_USE) unless another mailbox has it. *subscribe*:
        mailboxes the store makes by itself (the defaults, delivery's) are
        subscribed, so that clients listing subscriptions see them."""
        if special_use is None:
            special_use = DEFAULT_SPECIAL_USE.get(name, "")
            if special_use and self._special_use_holder(special_use) is not None:
                special_use = ""
        uidvalidity = self._next_uidvalidity()
        cur = self._conn.execute(
            "INSERT INTO mailbox (name, uidvalidity, uidnext, special_use) VALUES (?, ?, 1, ?)",
            (name, uidvalidity, special_use),
        )
        if subscribe:
            self._conn.execute("INSERT OR IGNORE INTO subscription (name) VALUES (?)", (name,))
        assert cur.lastrowid is not None
        self._changes().mailbox_created(cur.lastrowid, name)
        log.debug("mailbox created", extra={"account": self.name, "mailbox": name})
        return cur.lastrowid

    def _special_use_holder(self, use: str) -> str | None:
        """The name of the mailbox with special use *use*, if one has it."""
        row = self._conn.execute(
            "SELECT name FROM mailbox WHERE special_use = ?", (use,)
        ).fetchone()
        return None if row is None else str(row[0])

    def _next_uidvalidity(self) -> int:
        # Strictly increasing per account, so a deleted and re-created mailbox
        # never reuses a UIDVALIDITY (RFC 9051 §2.3.1.1).
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'next_uidvalidity'").fetchone()
        value = int(row[0])
        self._conn.execute("UPDATE meta SET value = ? WHERE key = 'next_uidvalidity'", (value + 1,))
        return value

    def _message_row(self, msgid: int) -> sqlite3.Row:
        row: sqlite3.Row | None = self._conn.execute(
            f"SELECT {MESSAGE_COLUMNS}, m.mailbox_id, b.name AS mailbox_name "
            "FROM message m JOIN mailbox b ON b.id = m.mailbox_id WHERE m.id = ?",
            (msgid,),
        ).fetchone()
        if row is None:
            raise MessageNotFound(f"account {self.name!r}: no message with id {msgid}")
        return row

    @staticmethod
    def _to_message(row: sqlite3.Row, mailbox: str) -> Message:
        received = _parse_iso(row["received"])
        assert received is not None
        return Message(
            msgid=int(row["id"]),
            mailbox=mailbox,
            uid=int(row["uid"]),
            flags=parse_flags(row["flags"]),
            size=int(row["size"]),
            received=received,
            requiretls=bool(row["requiretls"]),
            subject=row["subject"],
            from_=row["from_addr"],
            to=row["to_addr"],
            cc=row["cc"],
            date=_parse_iso(row["date"]),
            message_id=row["message_id"],
            in_reply_to=row["in_reply_to"],
            has_attachments=bool(row["has_attachments"]),
            keywords=parse_flags(row["keywords"]),
            thread=int(row["thread_id"]),
            modseq=int(row["modseq"]),
        )

    def _unlink_files(self, msgids: Iterable[int]) -> None:
        for msgid in msgids:
            path = message_path(self.dir, msgid)
            try:
                path.unlink()
            except FileNotFoundError:
                log.warning(
                    "message file already gone",
                    extra={"account": self.name, "msgid": msgid, "path": str(path)},
                )


class _WriteTx:
    """flock, BEGIN IMMEDIATE ... COMMIT, unlock on the account's connection
    (the thread lock is held by the caller)."""

    def __init__(self, store: AccountBase) -> None:
        self._store = store
        self._conn = store._conn

    def __enter__(self) -> None:
        self._store._flock()
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._store._funlock()
            raise
        self._store._changelog = ChangeLog(self._conn, keep=self._store.vanished_keep)

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        changelog = self._store._changes()
        try:
            if exc_type is None:
                try:
                    _commit(self._conn)
                except BaseException:
                    if self._conn.in_transaction:
                        self._conn.execute("ROLLBACK")
                    raise
            elif self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
        finally:
            self._store._changelog = None
            self._store._funlock()
        if exc_type is None:
            self._store._published(changelog)
