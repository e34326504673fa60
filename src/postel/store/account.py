"""One account's mailboxes and messages: accounts/<name>/index.db and msg/.

Durability (docs/data-safety.md): a delivered file is linked
into msg/<bucket>/<msgid> and its directory fsynced before the index row is
committed; if anything fails in between, the row is rolled back and the
linked file removed. Message files are never changed after that, so backups
can hard-link them. Removing a message deletes the row first, then the file.

All methods are synchronous and serialised by a lock, so one AccountStore can
be shared by threads (e.g. asyncio.to_thread) of one process. Write
transactions of all processes are serialised by an exclusive flock(2) on
index.db-lock next to the database, taken before SQLite's write lock: waiting
writers sleep in the kernel and wake when it is released, instead of polling
in SQLite's busy handler (1, 2, 5, 10 ms sleeps) while the CPU idles.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from postel.datadir import message_path
from postel.db import open_db
from postel.fsutil import fsync_dir
from postel.store import ftsbackfill, threads
from postel.store.bodytext import READ_LIMIT, body_text
from postel.store.envelope import Envelope, parse_envelope, read_header_block
from postel.store.errors import (
    InvalidFlag,
    MailboxExists,
    MailboxNotFound,
    MessageNotFound,
    StoreError,
)
from postel.store.message import DomainSecurity, MailboxInfo, Message, StoreStats, ThreadSummary
from postel.store.names import (
    DEFAULT_MAILBOXES,
    INBOX,
    SEPARATOR,
    join_flags,
    normalize_mailbox,
    parse_flags,
    split_flags,
)
from postel.store.schema import (
    MESSAGE_COLUMNS,
    MIGRATIONS,
    list_sql,
    thread_counts_sql,
    thread_heads_sql,
)
from postel.store.search import FTS_TABLE, fts_row, search_sql
from postel.store.searchquery import BadQuery, parse_query

log = logging.getLogger("postel.store")

INDEX_DB = "index.db"
# Writer lock of index.db (postel.databases lists it with the SQLite side files).
LOCK_FILE = INDEX_DB + "-lock"
ORPHANS_DIR = "orphans"
# link(2) errors after which the file is copied instead (other file system ...).
_COPY_ERRNOS = (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP)
MAX_PAGE = 10_000
_COPY_CHUNK = 1024 * 1024


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


def normalize_domain(domain: str) -> str:
    domain = domain.strip().rstrip(".").lower()
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return domain


@dataclass
class Delivery:
    """One message for :meth:`AccountStore.deliver_many`: the complete, fsynced
    file *source*, added to *mailbox* (created if missing).

    *size* and *envelope* may be given when the caller knows them (the byte
    size of *source*, the parsed header block of its first HEADER_LIMIT bytes);
    else the file is read."""

    mailbox: str
    source: Path | str
    flags: Iterable[str] = ()
    keywords: Iterable[str] = ()
    received: datetime | None = None
    requiretls: bool = False
    size: int | None = None
    envelope: Envelope | None = None


@dataclass(eq=False, slots=True)
class _Pending:
    """One delivery waiting for the group commit (see :meth:`AccountStore.deliver_many`)."""

    mailbox: str
    source: str
    size: int
    env: Envelope
    sysflags: frozenset[str]
    kws: frozenset[str]
    when: datetime
    requiretls: bool
    body: str = ""  # searchable text (store/bodytext.py)
    result: Message | None = None
    error: BaseException | None = None
    done: bool = False


_NO_FLAGS: tuple[frozenset[str], frozenset[str]] = (frozenset(), frozenset())


def _flags(flags: Iterable[str], keywords: Iterable[str]) -> tuple[frozenset[str], frozenset[str]]:
    """(system flags, keywords) of a delivery; InvalidFlag when bad."""
    if flags == () and keywords == ():
        return _NO_FLAGS
    sysflags, kw1 = split_flags(flags)
    more_flags, kw2 = split_flags(keywords)
    if more_flags:
        raise InvalidFlag(f"system flags given as keywords: {sorted(more_flags)}")
    return sysflags, kw1 | kw2


class AccountStore:
    """Mailboxes and messages of one account. Create through :class:`Store`."""

    def __init__(self, name: str, directory: Path, tmpdir: Path) -> None:
        self.name = name
        self.dir = directory
        self._tmpdir = tmpdir
        self._lock = threading.RLock()
        self._pending_lock = threading.Lock()
        self._pending: list[_Pending] = []
        self._mailbox_names: dict[str, str] = {}  # given name -> normalised
        self._msgdir = directory / "msg"
        self._msgdir_str = str(self._msgdir)
        _ensure_dir(directory)
        self._lockfd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            self._conn = open_db(directory / INDEX_DB, MIGRATIONS)
        except BaseException:
            os.close(self._lockfd)
            raise
        self._closed = False
        try:
            existing = {r[0] for r in self._conn.execute("SELECT name FROM mailbox")}
            for mailbox in DEFAULT_MAILBOXES:
                if mailbox not in existing:
                    with self._write():
                        self._mailbox_id(mailbox, create=True)
        except BaseException:
            self._conn.close()
            os.close(self._lockfd)
            raise
        self._backfill_stop = threading.Event()
        self._backfill: threading.Thread | None = None
        if ftsbackfill.backlog_below(self._conn):
            self._backfill = threading.Thread(
                target=self._backfill_loop, name=f"fts-backfill-{name}", daemon=True
            )
            self._backfill.start()

    # -- plumbing ---------------------------------------------------------

    def _write(self) -> _WriteTx:
        return _WriteTx(self)

    def _flock(self) -> None:
        """Take the cross-process writer lock (before BEGIN IMMEDIATE)."""
        fcntl.flock(self._lockfd, fcntl.LOCK_EX)

    def _funlock(self) -> None:
        fcntl.flock(self._lockfd, fcntl.LOCK_UN)

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

    def _insert_mailbox(self, name: str) -> int:
        uidvalidity = self._next_uidvalidity()
        cur = self._conn.execute(
            "INSERT INTO mailbox (name, uidvalidity, uidnext) VALUES (?, ?, 1)",
            (name, uidvalidity),
        )
        assert cur.lastrowid is not None
        log.debug("mailbox created", extra={"account": self.name, "mailbox": name})
        return cur.lastrowid

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
        )

    def _place(self, source: str, target: str, bucket: Path) -> None:
        """Hard-link *source* to *target* in directory *bucket*; copy (and fsync)
        across file systems. One link(2) when the directory exists and the
        target does not (the usual case)."""
        try:
            os.link(source, target)
            return
        except FileNotFoundError:
            _ensure_dir(bucket)  # else the source is missing: the retry says so
        except FileExistsError:
            self._set_aside(Path(target))
        except OSError as exc:
            if exc.errno not in _COPY_ERRNOS:
                raise
        self._place_slow(source, target, bucket)

    def _place_slow(self, source: str, target: str, bucket: Path) -> None:
        _ensure_dir(bucket)
        if os.path.lexists(target):
            self._set_aside(Path(target))
        try:
            os.link(source, target)
            return
        except OSError as exc:
            if exc.errno not in _COPY_ERRNOS:
                raise
        self._copy(source, target)

    @staticmethod
    def _copy(source: str, target: str) -> None:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with open(source, "rb") as src, os.fdopen(os.dup(fd), "wb") as dst:
                shutil.copyfileobj(src, dst, _COPY_CHUNK)
                dst.flush()
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(target)
            raise
        os.close(fd)

    def _set_aside(self, path: Path) -> None:
        """A file where a new message goes: left by a delivery that crashed
        before its commit. Never acknowledged, but moved aside, not deleted."""
        orphans = self.dir / ORPHANS_DIR
        _ensure_dir(orphans)
        dest = orphans / f"{path.name}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%f')}"
        os.rename(path, dest)
        fsync_dir(orphans)
        log.warning(
            "file without index row moved aside",
            extra={"account": self.name, "path": str(path), "dest": str(dest)},
        )

    # -- delivery ---------------------------------------------------------

    def deliver(
        self,
        mailbox: str,
        source: Path,
        *,
        flags: Iterable[str] = (),
        received: datetime | None = None,
        requiretls: bool = False,
        keywords: Iterable[str] = (),
    ) -> Message:
        """Add the complete, fsynced file *source* to *mailbox* (created if
        missing). Durable when this returns; *source* itself is left alone."""
        (result,) = self.deliver_many(
            [Delivery(mailbox, source, flags, keywords, received, requiretls)]
        )
        if isinstance(result, BaseException):
            raise result
        return result

    def deliver_many(self, deliveries: Sequence[Delivery]) -> list[Message | Exception]:
        """Deliver several files in one transaction (one WAL commit, one fsync
        per message directory). Each gets its Message or its own error: a
        failed one is rolled back to its savepoint, the others are kept. All
        are durable when this returns."""
        results: list[Message | Exception | None] = [None] * len(deliveries)
        reqs: list[tuple[int, _Pending]] = []
        for i, d in enumerate(deliveries):
            try:
                reqs.append((i, self._prepare(d)))
            except Exception as exc:
                results[i] = exc
        if reqs:
            with self._pending_lock:
                self._pending.extend(req for _, req in reqs)
            # Group commit: whoever holds the lock next delivers every waiting
            # request in one transaction (one WAL fsync, one fsync per directory),
            # so concurrent deliveries do not queue up behind each other's fsyncs.
            with self._lock:
                if not reqs[0][1].done:
                    with self._pending_lock:
                        batch, self._pending = self._pending, []
                    self._deliver_batch(batch)
            for i, req in reqs:
                if req.error is not None:
                    if not isinstance(req.error, Exception):
                        raise req.error
                    results[i] = req.error
                else:
                    results[i] = req.result
        out: list[Message | Exception] = []
        for r in results:
            assert r is not None
            out.append(r)
        return out

    def _prepare(self, d: Delivery) -> _Pending:
        """Check a delivery and read what the index needs (before any lock)."""
        mailbox = self._normalize_mailbox(d.mailbox)
        sysflags, kws = _flags(d.flags, d.keywords)
        source = os.fspath(d.source)
        env = d.envelope
        with open(source, "rb") as fp:
            size = os.fstat(fp.fileno()).st_size if d.size is None else d.size
            if env is None:
                env = parse_envelope(read_header_block(fp))
                fp.seek(0)
            body = self._body_text(fp.read(READ_LIMIT), source)
        when = d.received if d.received is not None else datetime.now(UTC)
        return _Pending(mailbox, source, size, env, sysflags, kws, when, d.requiretls, body)

    def _body_text(self, data: bytes, source: str) -> str:
        """The text for the full-text index; a message it cannot parse is still
        delivered, found by its headers only."""
        try:
            return body_text(data)
        except Exception as exc:
            log.warning(
                "body text not indexed",
                extra={"account": self.name, "path": source, "err": repr(exc)},
            )
            return ""

    def _deliver_batch(self, batch: list[_Pending]) -> None:
        """Deliver *batch* in one transaction; each request gets its result or
        its own error (a failed request is rolled back to its savepoint)."""
        conn = self._conn
        placed: list[str] = []
        try:
            self._check_open()
            self._flock()
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    dirs: dict[int, None] = {}
                    # mailbox name -> [id, uidnext] inside this transaction
                    boxes: dict[str, list[int]] = {}
                    for req in batch:
                        conn.execute("SAVEPOINT deliver")
                        target: str | None = None
                        try:
                            req.result, target = self._deliver_one(req, boxes)
                            dirs[req.result.msgid // 1000] = None
                            placed.append(target)
                            conn.execute("RELEASE deliver")
                        except Exception as exc:
                            boxes.clear()  # the rollback undoes uidnext and new mailboxes
                            conn.execute("ROLLBACK TO deliver")
                            conn.execute("RELEASE deliver")
                            if target is not None:
                                with contextlib.suppress(FileNotFoundError):
                                    os.unlink(target)
                            req.result, req.error = None, exc
                    for bucket in dirs:
                        fsync_dir(self._msgdir / str(bucket))
                    _commit(conn)
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    for target in placed:
                        with contextlib.suppress(FileNotFoundError):
                            os.unlink(target)
                    raise
            finally:
                self._funlock()
        except BaseException as exc:
            for req in batch:
                req.result = None
                if req.error is None:
                    req.error = exc
            if not isinstance(exc, Exception):
                raise
        finally:
            for req in batch:
                req.done = True
        if log.isEnabledFor(logging.DEBUG):
            for req in batch:
                if req.result is not None:
                    log.debug(
                        "message delivered",
                        extra={
                            "account": self.name,
                            "mailbox": req.mailbox,
                            "msgid": req.result.msgid,
                            "size": req.size,
                        },
                    )

    def _deliver_one(self, req: _Pending, boxes: dict[str, list[int]]) -> tuple[Message, str]:
        """Insert the row and link the file of one delivery (inside a transaction).

        *boxes* caches [id, uidnext] of mailboxes within the transaction."""
        conn = self._conn
        env, sysflags, when = req.env, req.sysflags, req.when
        box = boxes.get(req.mailbox)
        if box is None:
            row = conn.execute(
                "SELECT id, uidnext FROM mailbox WHERE name = ?", (req.mailbox,)
            ).fetchone()
            if row is None:
                box = [self._insert_mailbox(req.mailbox), 1]
            else:
                box = [int(row[0]), int(row[1])]
            boxes[req.mailbox] = box
        mailbox_id, uid = box
        received = _iso(when)
        cur = conn.execute(
            "INSERT INTO message (mailbox_id, uid, flags, keywords, size, received, "
            "requiretls, subject, from_addr, to_addr, cc, date, message_id, in_reply_to, "
            "has_attachments) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                mailbox_id,
                uid,
                join_flags(sysflags) if sysflags else "",
                join_flags(req.kws) if req.kws else "",
                req.size,
                received,
                int(req.requiretls),
                env.subject,
                env.from_,
                env.to,
                env.cc,
                _iso(env.date) if env.date else None,
                env.message_id,
                env.in_reply_to,
                int(env.has_attachments),
            ),
        )
        msgid = cur.lastrowid
        assert msgid is not None
        conn.execute(
            f"INSERT INTO {FTS_TABLE} (rowid, subject, sender, recipients, body) "
            "VALUES (?, ?, ?, ?, ?)",
            (msgid, *fts_row(env.subject, env.from_, env.to, env.cc, req.body)),
        )
        thread = threads.assign(conn, msgid, env, when)
        conn.execute(
            "UPDATE mailbox SET uidnext = uidnext + 1, total = total + 1, "
            "unseen = unseen + ?, size = size + ? WHERE id = ?",
            (0 if "\\Seen" in sysflags else 1, req.size, mailbox_id),
        )
        box[1] = uid + 1
        bucket = str(msgid // 1000)
        target = f"{self._msgdir_str}/{bucket}/{msgid}"
        self._place(req.source, target, self._msgdir / bucket)
        message = Message(
            msgid=msgid,
            mailbox=req.mailbox,
            uid=uid,
            flags=sysflags,
            size=req.size,
            received=datetime.fromisoformat(received),
            requiretls=req.requiretls,
            subject=env.subject,
            from_=env.from_,
            to=env.to,
            cc=env.cc,
            date=env.date,
            message_id=env.message_id,
            in_reply_to=env.in_reply_to,
            has_attachments=env.has_attachments,
            keywords=req.kws,
            thread=thread,
        )
        return message, target

    def deliver_bytes(
        self,
        mailbox: str,
        data: bytes,
        *,
        flags: Iterable[str] = (),
        received: datetime | None = None,
        requiretls: bool = False,
        keywords: Iterable[str] = (),
    ) -> Message:
        """Write *data* to a fsynced temporary file in the data dir's tmp/, then
        :meth:`deliver` it."""
        _ensure_dir(self._tmpdir)
        tmp = self._tmpdir / f"deliver-{os.getpid()}-{os.urandom(8).hex()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            return self.deliver(
                mailbox,
                tmp,
                flags=flags,
                received=received,
                requiretls=requiretls,
                keywords=keywords,
            )
        finally:
            tmp.unlink(missing_ok=True)

    # -- mailboxes --------------------------------------------------------

    def mailboxes(self) -> list[MailboxInfo]:
        """All mailboxes: the default ones first, then the others by name."""
        with self._lock:
            self._check_open()
            rows = self._conn.execute("SELECT * FROM mailbox").fetchall()
        infos = [
            MailboxInfo(
                name=r["name"],
                id=int(r["id"]),
                uidvalidity=int(r["uidvalidity"]),
                uidnext=int(r["uidnext"]),
                total=int(r["total"]),
                unseen=int(r["unseen"]),
                size=int(r["size"]),
            )
            for r in rows
        ]
        rank = {name: i for i, name in enumerate(DEFAULT_MAILBOXES)}
        return sorted(infos, key=lambda m: (rank.get(m.name, len(rank)), m.name))

    def mailbox(self, name: str) -> MailboxInfo:
        name = normalize_mailbox(name)
        for info in self.mailboxes():
            if info.name == name:
                return info
        raise MailboxNotFound(f"account {self.name!r}: no mailbox {name!r}")

    def create_mailbox(self, name: str) -> MailboxInfo:
        name = normalize_mailbox(name)
        with self._lock:
            self._check_open()
            with self._write():
                if self._mailbox_row(name) is not None:
                    raise MailboxExists(f"account {self.name!r}: mailbox {name!r} exists")
                self._insert_mailbox(name)
        return self.mailbox(name)

    def rename_mailbox(self, old: str, new: str) -> MailboxInfo:
        """Rename a mailbox and its children ("old/x" -> "new/x"), keeping
        UIDVALIDITY and UIDs. The Inbox can be neither source nor target."""
        old, new = normalize_mailbox(old), normalize_mailbox(new)
        if INBOX in (old, new):
            raise StoreError(f"account {self.name!r}: the Inbox cannot be renamed or replaced")
        with self._lock:
            self._check_open()
            with self._write():
                if self._mailbox_row(old) is None:
                    raise MailboxNotFound(f"account {self.name!r}: no mailbox {old!r}")
                prefix = old + SEPARATOR
                renames = [(old, new)] + [
                    (r["name"], new + SEPARATOR + r["name"][len(prefix) :])
                    for r in self._conn.execute(
                        "SELECT name FROM mailbox WHERE substr(name, 1, ?) = ?",
                        (len(prefix), prefix),
                    )
                ]
                for _, target in renames:
                    if self._mailbox_row(target) is not None:
                        raise MailboxExists(f"account {self.name!r}: mailbox {target!r} exists")
                for source, target in renames:
                    self._conn.execute(
                        "UPDATE mailbox SET name = ? WHERE name = ?", (target, source)
                    )
        return self.mailbox(new)

    def delete_mailbox(self, name: str) -> int:
        """Delete a mailbox (not the Inbox) with its messages; returns how many
        messages were removed. Child mailboxes stay."""
        name = normalize_mailbox(name)
        if name == INBOX:
            raise StoreError(f"account {self.name!r}: the Inbox cannot be deleted")
        with self._lock:
            self._check_open()
            with self._write():
                mailbox_id = self._mailbox_id(name, create=False)
                msgids = [
                    int(r[0])
                    for r in self._conn.execute(
                        "SELECT id FROM message WHERE mailbox_id = ?", (mailbox_id,)
                    )
                ]
                self._conn.execute("DELETE FROM message WHERE mailbox_id = ?", (mailbox_id,))
                self._conn.execute("DELETE FROM mailbox WHERE id = ?", (mailbox_id,))
            self._unlink_files(msgids)
        return len(msgids)

    # -- messages ---------------------------------------------------------

    def list_messages(
        self,
        mailbox: str,
        *,
        offset: int = 0,
        limit: int = 50,
        newest_first: bool = True,
        cursor: int | None = None,
    ) -> list[Message]:
        """One page of a mailbox in UID order, from the index only.

        *cursor* is the UID of the last message of the previous page; paging
        by cursor stays fast however deep, *offset* skips index entries."""
        if offset < 0 or not 0 <= limit <= MAX_PAGE:
            raise StoreError(f"offset must be >= 0 and limit 0..{MAX_PAGE}")
        mailbox = normalize_mailbox(mailbox)
        with self._lock:
            self._check_open()
            mailbox_id = self._mailbox_id(mailbox, create=False)
            params: list[Any] = [mailbox_id]
            if cursor is not None:
                params.append(cursor)
            params += [limit, offset]
            sql = list_sql(newest_first=newest_first, cursor=cursor is not None)
            rows = self._conn.execute(sql, params).fetchall()
        return [self._to_message(r, mailbox) for r in rows]

    def list_threads(
        self,
        mailbox: str,
        *,
        limit: int = 50,
        newest_first: bool = True,
        cursor: int | None = None,
    ) -> list[ThreadSummary]:
        """One page of the threads of a mailbox (store/threads.py), each as its
        newest message there, in the order of that message's UID; *cursor* as
        for :meth:`list_messages`. Reads the page's rows and their threads'
        rows in this mailbox only, never the whole mailbox."""
        if not 0 <= limit <= MAX_PAGE:
            raise StoreError(f"limit must be 0..{MAX_PAGE}")
        mailbox = normalize_mailbox(mailbox)
        with self._lock:
            self._check_open()
            mailbox_id = self._mailbox_id(mailbox, create=False)
            params: list[Any] = [mailbox_id] + ([cursor] if cursor is not None else []) + [limit]
            sql = thread_heads_sql(newest_first=newest_first, cursor=cursor is not None)
            rows = self._conn.execute(sql, params).fetchall()
            keys = list({int(r["thread_id"]) for r in rows})
            counts: dict[int, int] = {}
            unseen: dict[int, int] = {}
            if keys:
                for into, flag in ((counts, False), (unseen, True)):
                    sql = thread_counts_sql(len(keys), unseen=flag)
                    for key, n in self._conn.execute(sql, [*keys, mailbox_id]):
                        into[int(key)] = int(n)
        out = []
        for r in rows:
            key = int(r["thread_id"])
            out.append(
                ThreadSummary(self._to_message(r, mailbox), counts.get(key, 1), unseen.get(key, 0))
            )
        return out

    def thread_messages(
        self, thread: int, *, mailbox: str | None = None, limit: int = 500
    ) -> list[Message]:
        """The messages of a thread, oldest first (in *mailbox* only when given)."""
        if not 0 <= limit <= MAX_PAGE:
            raise StoreError(f"limit must be 0..{MAX_PAGE}")
        with self._lock:
            self._check_open()
            sql = (
                f"SELECT {MESSAGE_COLUMNS}, b.name AS mailbox_name FROM message m "
                "JOIN mailbox b ON b.id = m.mailbox_id WHERE m.thread_id = ?"
            )
            params: list[Any] = [thread]
            if mailbox is not None:
                sql += " AND m.mailbox_id = ?"
                params.append(self._mailbox_id(normalize_mailbox(mailbox), create=False))
            rows = self._conn.execute(sql + " ORDER BY m.id LIMIT ?", [*params, limit]).fetchall()
        return [self._to_message(r, r["mailbox_name"]) for r in rows]

    def search(
        self,
        query: str,
        *,
        mailbox: str | None = None,
        before: int | None = None,
        limit: int = 50,
    ) -> list[Message]:
        """Messages matching *query* (the search box's language, searchquery.py)
        over subject, addresses and body text, newest first; in *mailbox* only
        when given. *before*: the msgid of the last message of the previous page.
        BadQuery for a query that cannot be run; nothing for an empty one."""
        if not 0 <= limit <= MAX_PAGE:
            raise StoreError(f"limit must be 0..{MAX_PAGE}")
        q = parse_query(query)
        if q.empty:
            return []
        with self._lock:
            self._check_open()
            mailbox_id = (
                self._mailbox_id(normalize_mailbox(mailbox), create=False) if mailbox else None
            )
            sql, params = search_sql(q, mailbox_id=mailbox_id, before_id=before, limit=limit)
            try:
                rows = self._conn.execute(sql, params).fetchall()
            except sqlite3.OperationalError as exc:  # an FTS5 expression it refuses
                raise BadQuery(f"search {query!r} in account {self.name!r}: {exc}") from None
        return [self._to_message(r, r["mailbox_name"]) for r in rows]

    @property
    def search_complete(self) -> bool:
        """Whether every message is in the full-text index (false while the
        messages stored before it existed are being indexed)."""
        with self._lock:
            self._check_open()
            return ftsbackfill.backlog_below(self._conn) == 0

    def index_backlog(self, limit: int = ftsbackfill.CHUNK) -> bool:
        """Index up to *limit* of the messages stored before the full-text index
        existed, newest first; whether some remain (store/ftsbackfill.py)."""
        with self._lock:
            self._check_open()
            below = ftsbackfill.backlog_below(self._conn)
            if not below:
                return False
            rows = ftsbackfill.next_chunk(self._conn, below, limit)
        values = ftsbackfill.read_chunk(self.dir, rows)  # file reads outside the locks
        new_below = int(rows[-1]["id"]) if len(rows) == limit else 0
        with self._lock:
            self._check_open()
            with self._write():
                ftsbackfill.write_chunk(self._conn, below, new_below, values)
            return ftsbackfill.backlog_below(self._conn) != 0

    def _backfill_loop(self) -> None:
        started = time.monotonic()
        try:
            while not self._backfill_stop.is_set() and self.index_backlog():
                self._backfill_stop.wait(0.01)  # deliveries get their turn
        except Exception as exc:  # closed meanwhile, or the disk: the next open goes on
            if not self._backfill_stop.is_set():
                log.warning(
                    "full-text indexing of stored messages stopped",
                    extra={"account": self.name, "err": repr(exc)},
                )
            return
        if not self._backfill_stop.is_set():
            log.info(
                "full-text index of stored messages complete",
                extra={"account": self.name, "seconds": round(time.monotonic() - started, 1)},
            )

    def get(self, msgid: int) -> Message:
        with self._lock:
            self._check_open()
            row = self._message_row(msgid)
        return self._to_message(row, row["mailbox_name"])

    def get_by_uid(self, mailbox: str, uid: int) -> Message:
        mailbox = normalize_mailbox(mailbox)
        with self._lock:
            self._check_open()
            mailbox_id = self._mailbox_id(mailbox, create=False)
            row = self._conn.execute(
                f"SELECT {MESSAGE_COLUMNS} FROM message m WHERE m.mailbox_id = ? AND m.uid = ?",
                (mailbox_id, uid),
            ).fetchone()
        if row is None:
            raise MessageNotFound(f"account {self.name!r}: no uid {uid} in {mailbox!r}")
        return self._to_message(row, mailbox)

    def message_path(self, msgid: int) -> Path:
        """Path of the message file (checked against the index)."""
        self.get(msgid)
        return message_path(self.dir, msgid)

    def open_message(self, msgid: int) -> BinaryIO:
        """The message file, opened for binary reading; the caller closes it."""
        path = self.message_path(msgid)
        try:
            return open(path, "rb")
        except FileNotFoundError as exc:
            raise StoreError(
                f"account {self.name!r}: message {msgid} is indexed but {path} is missing"
            ) from exc

    def set_flags(self, msgid: int, add: Iterable[str] = (), remove: Iterable[str] = ()) -> Message:
        """Add and remove system flags (\\Seen ...) and keywords; returns the
        updated message. Removing wins over adding the same flag."""
        add_flags, add_kw = split_flags(add)
        remove_flags, remove_kw = split_flags(remove)
        with self._lock:
            self._check_open()
            with self._write():
                row = self._message_row(msgid)
                old = parse_flags(row["flags"])
                flags = (old | add_flags) - remove_flags
                keywords = (parse_flags(row["keywords"]) | add_kw) - remove_kw
                self._conn.execute(
                    "UPDATE message SET flags = ?, keywords = ? WHERE id = ?",
                    (join_flags(flags), join_flags(keywords), msgid),
                )
                was_seen, is_seen = "\\Seen" in old, "\\Seen" in flags
                if was_seen != is_seen:
                    self._conn.execute(
                        "UPDATE mailbox SET unseen = unseen + ? WHERE id = ?",
                        (-1 if is_seen else 1, row["mailbox_id"]),
                    )
        return self.get(msgid)

    def move(self, msgid: int, mailbox: str) -> Message:
        """Move a message to another existing mailbox; it gets a new UID there.
        The file stays where it is (its path depends on the msgid only)."""
        mailbox = normalize_mailbox(mailbox)
        with self._lock:
            self._check_open()
            with self._write():
                row = self._message_row(msgid)
                target_id = self._mailbox_id(mailbox, create=False)
                source_id = int(row["mailbox_id"])
                if target_id != source_id:
                    size = int(row["size"])
                    unseen = 0 if "\\Seen" in parse_flags(row["flags"]) else 1
                    uid = int(
                        self._conn.execute(
                            "SELECT uidnext FROM mailbox WHERE id = ?", (target_id,)
                        ).fetchone()[0]
                    )
                    self._conn.execute(
                        "UPDATE message SET mailbox_id = ?, uid = ? WHERE id = ?",
                        (target_id, uid, msgid),
                    )
                    self._conn.execute(
                        "UPDATE mailbox SET total = total - 1, unseen = unseen - ?, "
                        "size = size - ? WHERE id = ?",
                        (unseen, size, source_id),
                    )
                    self._conn.execute(
                        "UPDATE mailbox SET uidnext = uidnext + 1, total = total + 1, "
                        "unseen = unseen + ?, size = size + ? WHERE id = ?",
                        (unseen, size, target_id),
                    )
        return self.get(msgid)

    def remove(self, msgid: int) -> None:
        """Delete a message: the index row first, then its file."""
        with self._lock:
            self._check_open()
            with self._write():
                self._delete_rows([self._message_row(msgid)])
            self._unlink_files([msgid])

    def expunge(self, mailbox: str) -> list[int]:
        """Remove the messages flagged \\Deleted in *mailbox*; returns their ids."""
        mailbox = normalize_mailbox(mailbox)
        with self._lock:
            self._check_open()
            with self._write():
                mailbox_id = self._mailbox_id(mailbox, create=False)
                rows = [
                    r
                    for r in self._conn.execute(
                        "SELECT id, mailbox_id, size, flags FROM message WHERE mailbox_id = ? "
                        "AND instr(flags, '\\Deleted') > 0 ORDER BY uid",
                        (mailbox_id,),
                    ).fetchall()
                    if "\\Deleted" in parse_flags(r["flags"])
                ]
                self._delete_rows(rows)
            msgids = [int(r["id"]) for r in rows]
            self._unlink_files(msgids)
        return msgids

    def empty_mailbox(self, mailbox: str) -> int:
        """Remove every message of *mailbox* (emptying Trash or Junk); the mailbox
        and its UIDVALIDITY stay. Returns how many were removed."""
        mailbox = normalize_mailbox(mailbox)
        with self._lock:
            self._check_open()
            with self._write():
                mailbox_id = self._mailbox_id(mailbox, create=False)
                rows = self._conn.execute(
                    "SELECT id, mailbox_id, size, flags FROM message WHERE mailbox_id = ?",
                    (mailbox_id,),
                ).fetchall()
                self._delete_rows(rows)
            self._unlink_files(int(r["id"]) for r in rows)
        return len(rows)

    def _delete_rows(self, rows: list[sqlite3.Row]) -> None:
        for row in rows:
            unseen = 0 if "\\Seen" in parse_flags(row["flags"]) else 1
            self._conn.execute("DELETE FROM message WHERE id = ?", (row["id"],))
            self._conn.execute(
                "UPDATE mailbox SET total = total - 1, unseen = unseen - ?, size = size - ? "
                "WHERE id = ?",
                (unseen, row["size"], row["mailbox_id"]),
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

    # -- recipient domain security (docs/delivery-policy.md, After the session) --

    def remember_domain_security(
        self, domain: str, starttls: bool | None, requiretls: bool | None
    ) -> None:
        """Record what a delivery to *domain* saw; None keeps the earlier value."""
        domain = normalize_domain(domain)
        now = _iso(datetime.now(UTC))
        with self._lock:
            self._check_open()
            with self._write():
                self._conn.execute(
                    "INSERT INTO domain_security (domain, starttls, requiretls, updated) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (domain) DO UPDATE SET "
                    "starttls = coalesce(excluded.starttls, starttls), "
                    "requiretls = coalesce(excluded.requiretls, requiretls), "
                    "updated = excluded.updated",
                    (
                        domain,
                        None if starttls is None else int(starttls),
                        None if requiretls is None else int(requiretls),
                        now,
                    ),
                )

    def domain_security(self, domain: str) -> DomainSecurity:
        """What is known about *domain*; all None when nothing is."""
        domain = normalize_domain(domain)
        with self._lock:
            self._check_open()
            row = self._conn.execute(
                "SELECT * FROM domain_security WHERE domain = ?", (domain,)
            ).fetchone()
        if row is None:
            return DomainSecurity(domain, None, None, None)
        return DomainSecurity(
            domain=domain,
            starttls=None if row["starttls"] is None else bool(row["starttls"]),
            requiretls=None if row["requiretls"] is None else bool(row["requiretls"]),
            updated=_parse_iso(row["updated"]),
        )

    # -- whole account ----------------------------------------------------

    def stats(self) -> StoreStats:
        with self._lock:
            self._check_open()
            row = self._conn.execute(
                "SELECT count(*), coalesce(sum(total), 0), coalesce(sum(size), 0) FROM mailbox"
            ).fetchone()
        index_bytes = 0
        for suffix in ("", "-wal", "-shm"):
            try:
                index_bytes += (self.dir / (INDEX_DB + suffix)).stat().st_size
            except FileNotFoundError:
                pass
        return StoreStats(
            messages=int(row[1]),
            message_bytes=int(row[2]),
            index_bytes=index_bytes,
            mailboxes=int(row[0]),
        )

    def check(self) -> list[str]:
        """Invariants of the index: uid < uidnext, mailbox counters match the
        messages. Empty when consistent (used by verifydata)."""
        problems: list[str] = []
        with self._lock:
            self._check_open()
            bad_uid = self._conn.execute(
                "SELECT m.id, m.uid, b.name, b.uidnext FROM message m "
                "JOIN mailbox b ON b.id = m.mailbox_id WHERE m.uid >= b.uidnext"
            ).fetchall()
            counts = self._conn.execute(
                "SELECT b.name, b.total, b.unseen, b.size, count(m.id) AS n, "
                "coalesce(sum(m.size), 0) AS s, "
                "coalesce(sum(CASE WHEN m.id IS NULL THEN 0 "
                "WHEN instr(' ' || m.flags || ' ', ' \\Seen ') > 0 THEN 0 ELSE 1 END), 0) AS u "
                "FROM mailbox b LEFT JOIN message m ON m.mailbox_id = b.id GROUP BY b.id"
            ).fetchall()
        for r in bad_uid:
            problems.append(
                f"{self.dir}: message {r[0]} in {r[2]!r} has uid {r[1]} >= uidnext {r[3]}"
            )
        for r in counts:
            if (r["total"], r["unseen"], r["size"]) != (r["n"], r["u"], r["s"]):
                problems.append(
                    f"{self.dir}: mailbox {r['name']!r} counters total/unseen/size "
                    f"{r['total']}/{r['unseen']}/{r['size']} but messages say "
                    f"{r['n']}/{r['u']}/{r['s']}"
                )
        return problems

    def close(self) -> None:
        self._backfill_stop.set()
        if self._backfill is not None and self._backfill is not threading.current_thread():
            self._backfill.join(30)
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()
                os.close(self._lockfd)


class _WriteTx:
    """flock, BEGIN IMMEDIATE ... COMMIT, unlock on the account's connection
    (the thread lock is held by the caller)."""

    def __init__(self, store: AccountStore) -> None:
        self._store = store
        self._conn = store._conn

    def __enter__(self) -> None:
        self._store._flock()
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._store._funlock()
            raise

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
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
            self._store._funlock()
