"""An account's messages: listing, search, reading, flags, moving and removing
(part of AccountStore). Removing a message deletes the row first, then the file."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from array import array
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from postel.datadir import message_path
from postel.store import ftsbackfill
from postel.store.accountbase import AccountBase
from postel.store.changes import MailboxChanges, highest_modseq
from postel.store.errors import MailboxNotFound, MessageNotFound, StoreError
from postel.store.message import FlagsStored, FlagState, Message, ThreadSummary
from postel.store.names import (
    join_flags,
    normalize_mailbox,
    parse_flags,
    split_flags,
    store_flags_request,
)
from postel.store.schema import (
    MESSAGE_COLUMNS,
    THREAD_HEAD_SQL,
    list_sql,
    thread_counts_sql,
    thread_heads_sql,
)
from postel.store.search import search_sql
from postel.store.searchquery import BadQuery, parse_query

log = logging.getLogger("postel.store")

MAX_PAGE = 10_000
MAX_SUMMARIES = 200  # thread keys of one thread_summaries call
FLAG_CHUNK = 500  # UIDs per SELECT of store_flags (SQLite's variable limit is higher)
UIDS_CHUNK = 50_000  # UIDs per query of uids()
UIDS_KEPT = 8  # mailboxes whose UIDs uids() keeps
UIDS_SQL = (
    "SELECT group_concat(uid) FROM (SELECT uid FROM message WHERE mailbox_id = ? AND uid > ? "
    "ORDER BY uid LIMIT ?)"
)


class Messages(AccountBase):
    """Messages of one account (part of AccountStore)."""

    _backfill_stop: threading.Event
    _backfill: threading.Thread | None
    # mailbox id -> ((highestmodseq, uidnext), its UIDs), for uids()
    _uid_cache: dict[int, tuple[tuple[int, int], array[int]]]

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
            return self._summaries(rows, mailbox, mailbox_id)

    def thread_summaries(self, mailbox: str, keys: Iterable[int]) -> list[ThreadSummary]:
        """The threads *keys* as :meth:`list_threads` lists them in *mailbox*,
        newest first; a key with no message there is left out. One index probe
        (message_thread) per key; at most :data:`MAX_SUMMARIES` keys."""
        wanted = list(dict.fromkeys(keys))
        if len(wanted) > MAX_SUMMARIES:
            raise StoreError(f"at most {MAX_SUMMARIES} thread keys at once")
        mailbox = normalize_mailbox(mailbox)
        with self._lock:
            self._check_open()
            mailbox_id = self._mailbox_id(mailbox, create=False)
            rows = []
            for key in wanted:
                row = self._conn.execute(THREAD_HEAD_SQL, (key, mailbox_id)).fetchone()
                if row is not None:
                    rows.append(row)
            rows.sort(key=lambda r: int(r["uid"]), reverse=True)
            return self._summaries(rows, mailbox, mailbox_id)

    def _summaries(self, rows: list[Any], mailbox: str, mailbox_id: int) -> list[ThreadSummary]:
        """Thread heads *rows* with their threads' counts in the mailbox (lock held)."""
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

    def highest_modseq(self) -> int:
        """The account's latest modseq (any mailbox)."""
        with self._lock:
            self._check_open()
            return highest_modseq(self._conn)

    def changes_since(
        self, mailbox: str, modseq: int, *, limit: int | None = None
    ) -> MailboxChanges:
        """Messages of *mailbox* changed (added, flags, moved in) after *modseq*,
        in UID order with their modseq, and the UIDs removed after it
        (RFC 7162 §3.2.5, §3.2.10), as far as they are kept (vanished_complete
        False when *modseq* is below the mailbox's trimmed floor). *limit*: at
        most that many changed messages, those with the highest UIDs."""
        mailbox = normalize_mailbox(mailbox)
        with self._lock:
            self._check_open()
            box = self._mailbox_row(mailbox)
            if box is None:
                raise MailboxNotFound(f"account {self.name!r}: no mailbox {mailbox!r}")
            rows = self._conn.execute(
                f"SELECT {MESSAGE_COLUMNS} FROM message m "
                "WHERE m.mailbox_id = ? AND m.modseq > ? ORDER BY m.uid DESC LIMIT ?",
                (box["id"], modseq, -1 if limit is None else limit),
            ).fetchall()
            rows.reverse()
            vanished = [
                int(r[0])
                for r in self._conn.execute(
                    "SELECT uid FROM vanished WHERE mailbox_id = ? AND modseq > ? ORDER BY uid",
                    (box["id"], modseq),
                )
            ]
        return MailboxChanges(
            mailbox=mailbox,
            uidvalidity=int(box["uidvalidity"]),
            highestmodseq=int(box["highestmodseq"]),
            changed=[self._to_message(r, mailbox) for r in rows],
            vanished=vanished,
            vanished_complete=modseq >= int(box["vanished_floor"]),
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

    def _indexed(self, msgid: int) -> None:
        """MessageNotFound unless message *msgid* is in the index (the primary
        key alone: no row is built)."""
        with self._lock:
            self._check_open()
            row = self._conn.execute("SELECT 1 FROM message WHERE id = ?", (msgid,)).fetchone()
        if row is None:
            raise MessageNotFound(f"account {self.name!r}: no message {msgid}")

    def open_message(self, msgid: int) -> BinaryIO:
        """The message file, opened for binary reading; the caller closes it."""
        self._indexed(msgid)
        path = message_path(self.dir, msgid)
        try:
            return open(path, "rb")
        except FileNotFoundError as exc:
            self._indexed(msgid)  # removed since: MessageNotFound
            raise StoreError(
                f"account {self.name!r}: message {msgid} is indexed but {path} is missing"
            ) from exc

    def read_message(self, msgid: int, start: int = 0, length: int = -1) -> bytes:
        """*length* bytes of the message (to its end when negative) from *start*."""
        with self.open_message(msgid) as f:
            if start:
                f.seek(start)
            return f.read(length)

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
                old_kw = parse_flags(row["keywords"])
                keywords = (old_kw | add_kw) - remove_kw
                if (flags, keywords) == (old, old_kw):
                    return self._to_message(row, row["mailbox_name"])  # no change, no modseq
                self._conn.execute(
                    "UPDATE message SET flags = ?, keywords = ? WHERE id = ?",
                    (join_flags(flags), join_flags(keywords), msgid),
                )
                self._changes().flags(row["mailbox_id"], row["mailbox_name"], msgid, row["uid"])
                was_seen, is_seen = "\\Seen" in old, "\\Seen" in flags
                if was_seen != is_seen:
                    self._conn.execute(
                        "UPDATE mailbox SET unseen = unseen + ? WHERE id = ?",
                        (-1 if is_seen else 1, row["mailbox_id"]),
                    )
        return self.get(msgid)

    def store_flags(
        self,
        mailbox: str,
        uids: Iterable[int],
        flags: Iterable[str],
        mode: str,
        *,
        unchangedsince: int | None = None,
    ) -> FlagsStored:
        """Add, remove or replace *flags* on the messages *uids* of *mailbox* in
        one transaction with one modseq, published once (IMAP STORE).

        *mode* is "add", "remove" or "replace". A message whose flags would not
        change is not written. With *unchangedsince*, a message whose modseq is
        higher is left alone and reported in ``modified`` (RFC 7162 §3.1.3).
        UIDs not in the mailbox are ignored."""
        system, keywords, wanted = store_flags_request(uids, flags, mode)
        if not wanted:
            return FlagsStored([], [])
        mailbox = normalize_mailbox(mailbox)
        out: list[FlagState] = []
        modified: list[int] = []
        modseq = 0
        with self._lock:
            self._check_open()
            with self._write():
                mailbox_id = self._mailbox_id(mailbox, create=False)
                pending: list[FlagState] = []
                unseen = 0  # change of the mailbox's unseen count
                for i in range(0, len(wanted), FLAG_CHUNK):
                    part = wanted[i : i + FLAG_CHUNK]
                    marks = ",".join("?" * len(part))
                    rows = self._conn.execute(
                        "SELECT id, uid, flags, keywords, modseq FROM message "
                        f"WHERE mailbox_id = ? AND uid IN ({marks}) ORDER BY uid",
                        [mailbox_id, *part],
                    ).fetchall()
                    for msgid, uid, flags_text, kw_text, old_modseq in rows:
                        if unchangedsince is not None and old_modseq > unchangedsince:
                            modified.append(uid)
                            continue
                        old, old_kw = parse_flags(flags_text), parse_flags(kw_text)
                        if mode == "add":
                            new, new_kw = old | system, old_kw | keywords
                        elif mode == "remove":
                            new, new_kw = old - system, old_kw - keywords
                        else:
                            new, new_kw = system, keywords
                        if new == old and new_kw == old_kw:
                            out.append(FlagState(msgid, uid, old, old_kw, old_modseq))
                            continue  # no change, no write, no modseq
                        unseen += ("\\Seen" in old) - ("\\Seen" in new)
                        pending.append(FlagState(msgid, uid, new, new_kw, 0))
                if pending:
                    modseq = self._changes().flags_batch(
                        mailbox_id, mailbox, [f.uid for f in pending]
                    )
                    self._conn.executemany(
                        "UPDATE message SET flags = ?, keywords = ?, modseq = ? WHERE id = ?",
                        [
                            (join_flags(f.flags), join_flags(f.keywords), modseq, f.msgid)
                            for f in pending
                        ],
                    )
                    if unseen:
                        self._conn.execute(
                            "UPDATE mailbox SET unseen = unseen + ? WHERE id = ?",
                            (unseen, mailbox_id),
                        )
                    out.extend(
                        FlagState(f.msgid, f.uid, f.flags, f.keywords, modseq) for f in pending
                    )
        out.sort(key=lambda m: m.uid)
        return FlagsStored(out, modified, modseq)

    def uids(self, mailbox: str) -> array[int]:
        """The UIDs of *mailbox* in order, from the (mailbox_id, uid) index only
        (what IMAP SELECT needs, without reading the rows).

        The last answer per mailbox is kept: every change to a mailbox's set
        of UIDs moves its UIDNEXT (a message in) or its HIGHESTMODSEQ (a
        message out), in whichever process, so while both are as they were
        the UIDs are too, and a SELECT of 100,000 copies an array."""
        mailbox = normalize_mailbox(mailbox)
        with self._lock:
            self._check_open()
            mailbox_id = self._mailbox_id(mailbox, create=False)
            version = self._uid_version(mailbox_id)
            hit = self._uid_cache.get(mailbox_id)
            if hit is not None and hit[0] == version:
                return array("I", hit[1])
            out = self._read_uids(mailbox_id)
            if self._uid_version(mailbox_id) == version:  # nothing changed meanwhile
                if len(self._uid_cache) >= UIDS_KEPT:
                    self._uid_cache.pop(next(iter(self._uid_cache)))
                self._uid_cache[mailbox_id] = (version, array("I", out))
        return out

    def _uid_version(self, mailbox_id: int) -> tuple[int, int]:
        row = self._conn.execute(
            "SELECT highestmodseq, uidnext FROM mailbox WHERE id = ?", (mailbox_id,)
        ).fetchone()
        return (int(row[0]), int(row[1])) if row is not None else (-1, -1)

    def _read_uids(self, mailbox_id: int) -> array[int]:
        out = array("I")
        while True:
            # One text per chunk instead of a row tuple per message: the
            # tuples (garbage-collected objects) set off full collections
            # of the server's heap, which made SELECT of 10,000 messages
            # take 50-200 ms now and then instead of 5.
            after = out[-1] if out else 0
            (text,) = self._conn.execute(UIDS_SQL, (mailbox_id, after, UIDS_CHUNK)).fetchone()
            if not text:
                break
            chunk = sorted(map(int, text.split(",")))
            out.extend(chunk)
            if len(chunk) < UIDS_CHUNK:
                break
        return out

    def structures(self, msgids: Sequence[int]) -> dict[int, bytes]:
        """The stored MIME structures (store/mimestructure.py) of *msgids*, by
        msgid; messages stored before migration 5 may have none yet."""
        return {k: v for k, v in self._by_id("SELECT id, mime FROM message_mime", msgids)}

    def heads(self, msgids: Sequence[int]) -> dict[int, bytes]:
        """The stored lines of the top header's common fields
        (mimestructure.head_of) of *msgids*; mail stored before migration 8
        may have none yet."""
        sql = "SELECT id, head FROM message_mime"
        return {k: v for k, v in self._by_id(sql, msgids, "head IS NOT NULL")}

    def keep_structures(self, structures: Mapping[int, tuple[bytes, bytes]]) -> None:
        """Store MIME structures and header fields (mimestructure.stored_form)
        computed after delivery (for mail stored before migration 8, or in an
        older format): one transaction, not a change any client sees (files
        never change, nor their structure)."""
        if not structures:
            return
        with self._lock:
            self._check_open()
            with self._write():
                # Not for a message removed meanwhile.
                self._conn.executemany(
                    "INSERT OR REPLACE INTO message_mime (id, mime, head) "
                    "SELECT id, ?, ? FROM message WHERE id = ?",
                    [(mime, head, msgid) for msgid, (mime, head) in structures.items()],
                )

    def answers(self, msgids: Sequence[int]) -> dict[int, dict[str, bytes]]:
        """Answers a reader derived from the messages *msgids* and kept with
        :meth:`keep_answers`, by msgid and item."""
        out: dict[int, dict[str, bytes]] = {}
        sql = "SELECT id, item, value FROM message_answer"
        with self._lock:
            self._check_open()
            for i in range(0, len(msgids), 500):  # under SQLite's variable limit
                chunk = msgids[i : i + 500]
                marks = ", ".join("?" * len(chunk))
                for msgid, item, value in self._conn.execute(f"{sql} WHERE id IN ({marks})", chunk):
                    out.setdefault(msgid, {})[item] = value
        return out

    def keep_answers(self, answers: Mapping[int, Mapping[str, bytes]]) -> None:
        """Keep answers derived from messages' files (IMAP's ENVELOPE and
        BODYSTRUCTURE, say), by msgid and item: one transaction, not a change
        any client sees; dropped with the message."""
        rows = [(item, v, msgid) for msgid, items in answers.items() for item, v in items.items()]
        if not rows:
            return
        with self._lock:
            self._check_open()
            with self._write():
                self._conn.executemany(
                    "INSERT OR REPLACE INTO message_answer (id, item, value) "
                    "SELECT id, ?, ? FROM message WHERE id = ?",
                    rows,
                )

    def _by_id(self, sql: str, msgids: Sequence[int], cond: str = "") -> list[tuple[int, bytes]]:
        """(id, blob) rows of *sql* for *msgids*, in chunks."""
        out: list[tuple[int, bytes]] = []
        extra = f" AND {cond}" if cond else ""
        with self._lock:
            self._check_open()
            for i in range(0, len(msgids), 500):  # under SQLite's variable limit
                chunk = msgids[i : i + 500]
                marks = ", ".join("?" * len(chunk))
                cur = self._conn.execute(f"{sql} WHERE id IN ({marks}){extra}", chunk)
                out.extend((int(k), bytes(v)) for k, v in cur)
        return out

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
                    changelog = self._changes()
                    changelog.removed(source_id, row["mailbox_name"], int(row["uid"]))
                    modseq = changelog.touch(target_id)
                    self._conn.execute(
                        "UPDATE message SET mailbox_id = ?, uid = ?, modseq = ? WHERE id = ?",
                        (target_id, uid, modseq, msgid),
                    )
                    changelog.added(mailbox, uid)
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
                row = self._message_row(msgid)
                self._delete_rows([row], row["mailbox_name"])
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
                        "SELECT id, uid, mailbox_id, size, flags FROM message WHERE mailbox_id = ? "
                        "AND instr(flags, '\\Deleted') > 0 ORDER BY uid",
                        (mailbox_id,),
                    ).fetchall()
                    if "\\Deleted" in parse_flags(r["flags"])
                ]
                self._delete_rows(rows, mailbox)
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
                    "SELECT id, uid, mailbox_id, size, flags FROM message WHERE mailbox_id = ?",
                    (mailbox_id,),
                ).fetchall()
                self._delete_rows(rows, mailbox)
            self._unlink_files(int(r["id"]) for r in rows)
        return len(rows)

    def _delete_rows(self, rows: list[sqlite3.Row], mailbox: str) -> None:
        """Delete message rows of *mailbox* (with id, uid, mailbox_id, size, flags)."""
        changelog = self._changes()
        for row in rows:
            changelog.removed(int(row["mailbox_id"]), mailbox, int(row["uid"]))
            unseen = 0 if "\\Seen" in parse_flags(row["flags"]) else 1
            self._conn.execute("DELETE FROM message WHERE id = ?", (row["id"],))
            self._conn.execute(
                "UPDATE mailbox SET total = total - 1, unseen = unseen - ?, size = size - ? "
                "WHERE id = ?",
                (unseen, row["size"], row["mailbox_id"]),
            )
