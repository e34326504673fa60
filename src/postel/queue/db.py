"""queue/index.db and the message files under queue/msg/ (synchronous).

Used by the delivery loop (through threads, one call at a time) and by the
CLI while the server runs (SQLite WAL). A message file is written and fsynced
before the rows naming it are committed (docs/data-safety.md); files are
immutable and removed after the last row naming them is gone.
"""

from __future__ import annotations

import datetime as dt
import errno
import logging
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path

from postel.datadir import DataDir, message_path
from postel.db import open_db, transaction
from postel.fsutil import fsync_dir, write_atomic
from postel.queue.errors import BadMessage, EntryNotFound
from postel.queue.model import Entry, QueuedMessage, iso
from postel.queue.schema import MIGRATIONS
from postel.smtp.address import Address, parse_address
from postel.smtp.errors import AddressError

log = logging.getLogger("postel.queue")

ORPHAN_MIN_AGE = 600.0  # seconds


def parse_recipient(rcpt: str) -> Address:
    """*rcpt* parsed (domain as lower-case A-label); BadMessage if unparsable."""
    try:
        return parse_address(rcpt, smtputf8=True)
    except AddressError as exc:
        raise BadMessage(f"bad recipient address {rcpt!r}: {exc}") from exc


def needs_smtputf8(address: str) -> bool:
    """Whether *address* has a non-ASCII localpart (U-label domains become A-labels)."""
    if address.isascii():
        return False
    try:
        return parse_address(address, smtputf8=True).needs_smtputf8
    except AddressError:
        return True


class QueueDB:
    def __init__(self, conn: sqlite3.Connection, datadir: DataDir) -> None:
        self.conn = conn
        self.datadir = datadir
        self.lock = threading.RLock()

    @classmethod
    def open(cls, datadir: DataDir) -> QueueDB:
        datadir.queue_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        return cls(open_db(datadir.queue_db, MIGRATIONS), datadir)

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    def msg_path(self, msg_id: int) -> Path:
        return message_path(self.datadir.queue_dir, msg_id)

    # -- adding -----------------------------------------------------------

    def _allocate_id(self) -> int:
        with transaction(self.conn):
            n = int(self.conn.execute("SELECT next FROM msgseq WHERE id = 1").fetchone()[0])
            self.conn.execute("UPDATE msgseq SET next = ? WHERE id = 1", (n + 1,))
        return n

    def _place(self, source: Path | bytes, target: Path) -> None:
        """Make *target* a durable copy (or hard link) of *source*."""
        bucket = target.parent
        if not bucket.is_dir():
            bucket.mkdir(parents=True, exist_ok=True, mode=0o700)
            fsync_dir(bucket.parent)
        if isinstance(source, bytes):
            write_atomic(target, source, tmpdir=bucket)
            return
        try:
            # The source is complete and fsynced (Submitter contract): a link suffices.
            os.link(source, target)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
                raise
            tmp = bucket / f".tmp-{os.getpid()}-{os.urandom(6).hex()}"
            try:
                with open(source, "rb") as src, open(tmp, "xb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
                    dst.flush()
                    os.fsync(dst.fileno())
                os.replace(tmp, target)
            finally:
                tmp.unlink(missing_ok=True)
        fsync_dir(bucket)

    def add(
        self,
        source: Path | bytes,
        *,
        account: str,
        mail_from: str,
        rcpts: Sequence[str],
        requiretls: bool,
        tls_required_no: bool,
        is_tlsrpt: bool,
        is_dmarc_report: bool,
        smtputf8: bool,
        eightbit: bool,
        max_attempts: int,
        now: dt.datetime,
        subject: str = "",
        message_id: str = "",
    ) -> list[int]:
        """Store the message and one entry per distinct recipient; entry ids.

        Durable when this returns. A crash before the commit leaves at most an
        orphan file, removed by :meth:`recover`.
        """
        unique: list[tuple[str, str]] = []
        for rcpt in rcpts:
            addr = parse_recipient(rcpt)
            if str(addr) not in (r for r, _ in unique):
                unique.append((str(addr), addr.domain))
                smtputf8 = smtputf8 or addr.needs_smtputf8
        if not unique:
            raise BadMessage("no recipients to queue")
        if not isinstance(source, bytes) and not Path(source).is_file():
            raise BadMessage(f"{source}: message file does not exist")
        size = len(source) if isinstance(source, bytes) else os.stat(source).st_size
        with self.lock:
            msg_id = self._allocate_id()
            target = self.msg_path(msg_id)
            self._place(source, target)
            try:
                with transaction(self.conn):
                    self.conn.execute(
                        "INSERT INTO message (id, created, sender_account, mail_from, size,"
                        " requiretls, tls_required_no, is_tlsrpt, is_dmarc_report, smtputf8,"
                        " eightbit, subject, message_id)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            msg_id,
                            iso(now),
                            account,
                            mail_from,
                            size,
                            int(requiretls),
                            int(tls_required_no),
                            int(is_tlsrpt),
                            int(is_dmarc_report),
                            int(smtputf8),
                            int(eightbit),
                            subject,
                            message_id,
                        ),
                    )
                    ids = []
                    for rcpt, domain in unique:
                        cur = self.conn.execute(
                            "INSERT INTO entry (msg_id, rcpt, domain, created, max_attempts,"
                            " next_attempt) VALUES (?, ?, ?, ?, ?, ?)",
                            (msg_id, rcpt, domain, iso(now), max_attempts, iso(now)),
                        )
                        assert cur.lastrowid is not None
                        ids.append(int(cur.lastrowid))
            except BaseException:
                target.unlink(missing_ok=True)
                raise
        log.info(
            "message queued",
            extra={"msgid": msg_id, "size": size, "rcpts": len(unique), "account": account},
        )
        return ids

    # -- reading ----------------------------------------------------------

    def _select(self, where: str, args: Iterable[object] = ()) -> list[Entry]:
        rows = self.conn.execute(
            "SELECT e.*, m.id AS m_id, m.created AS m_created, m.sender_account, m.mail_from,"
            " m.size, m.requiretls, m.tls_required_no, m.is_tlsrpt, m.is_dmarc_report,"
            " m.smtputf8, m.eightbit, m.subject, m.message_id"
            f" FROM entry e JOIN message m ON m.id = e.msg_id {where}",
            tuple(args),
        ).fetchall()
        out = []
        msgs: dict[int, QueuedMessage] = {}
        for r in rows:
            mid = int(r["m_id"])
            msg = msgs.get(mid)
            if msg is None:
                d = {k: r[k] for k in r.keys()}  # noqa: SIM118 (a Row iterates values)
                d["id"], d["created"] = d["m_id"], d["m_created"]
                msg = msgs[mid] = QueuedMessage.from_row(d)
            out.append(Entry.from_row(r, msg))
        return out

    def counts(self) -> tuple[int, int]:
        """(entries, entries on hold): the queue's size for metrics and health."""
        with self.lock:
            row = self.conn.execute(
                "SELECT count(*), coalesce(sum(hold != 0), 0) FROM entry"
            ).fetchone()
        return int(row[0]), int(row[1])

    def entries(self) -> list[Entry]:
        with self.lock:
            return self._select("ORDER BY e.next_attempt, e.id")

    def get(self, entry_id: int) -> Entry:
        with self.lock:
            found = self._select("WHERE e.id = ?", (entry_id,))
        if not found:
            raise EntryNotFound(f"{self.datadir.queue_db}: no queue entry with id {entry_id}")
        return found[0]

    def due_domains(
        self, now: dt.datetime, limit: int, exclude: Collection[int], busy: Collection[str]
    ) -> list[str]:
        """Up to *limit* recipient domains, not in *busy*, with an unheld due
        entry not in *exclude*, in the order of their first such entry.

        Reads due entries in index order only until the domains are found,
        never all of them.
        """
        found: list[str] = []
        if limit <= 0:
            return found
        marks = ",".join("?" * len(busy))
        not_busy = f" AND domain NOT IN ({marks})" if busy else ""
        with self.lock:
            cur = self.conn.execute(
                "SELECT id, domain FROM entry INDEXED BY entry_due"
                f" WHERE hold = 0 AND next_attempt <= ?{not_busy}"
                " ORDER BY next_attempt, id",
                (iso(now), *busy),
            )
            try:
                for entry_id, domain in cur:
                    if entry_id in exclude or domain in found:
                        continue
                    found.append(domain)
                    if len(found) >= limit:
                        break
            finally:
                cur.close()  # ends the read the unfinished statement holds
        return found

    def due_of_domain(
        self, domain: str, now: dt.datetime, limit: int, exclude: Collection[int] = ()
    ) -> list[Entry]:
        """Up to *limit* unheld due entries of *domain* not in *exclude*, oldest first."""
        with self.lock:
            found = self._select(
                "WHERE e.domain = ? AND e.hold = 0 AND e.next_attempt <= ?"
                " ORDER BY e.next_attempt, e.id LIMIT ?",
                (domain, iso(now), limit + len(exclude)),
            )
        return [e for e in found if e.id not in exclude][:limit]

    def next_due(self, exclude: Collection[int] = ()) -> dt.datetime | None:
        """When the first unheld entry not in *exclude* is due; reads entries in
        index order only up to that one."""
        with self.lock:
            cur = self.conn.execute(
                "SELECT id, next_attempt FROM entry INDEXED BY entry_due"
                " WHERE hold = 0 ORDER BY next_attempt, id"
            )
            try:
                for entry_id, next_attempt in cur:
                    if entry_id not in exclude:
                        return dt.datetime.fromisoformat(next_attempt)
            finally:
                cur.close()
        return None

    # -- attempts ---------------------------------------------------------

    def begin_attempt(self, ids: Sequence[int], now: dt.datetime) -> None:
        """Count the attempt before it runs: a message that crashes the process
        still runs out of attempts."""
        with self.lock, transaction(self.conn):
            for i in ids:
                self.conn.execute(
                    "UPDATE entry SET attempts = attempts + 1, last_attempt = ? WHERE id = ?",
                    (iso(now), i),
                )

    def reschedule(
        self,
        entry_id: int,
        next_attempt: dt.datetime,
        *,
        error: str,
        code: int = 0,
        enhanced: str = "",
        remote_mta: str = "",
        dsn_sent_delay: bool | None = None,
    ) -> None:
        with self.lock, transaction(self.conn):
            self.conn.execute(
                "UPDATE entry SET next_attempt = ?, last_error = ?, last_code = ?,"
                " last_enhanced = ?, remote_mta = ?,"
                " dsn_sent_delay = COALESCE(?, dsn_sent_delay) WHERE id = ?",
                (
                    iso(next_attempt),
                    error[:2000],
                    code,
                    enhanced,
                    remote_mta,
                    None if dsn_sent_delay is None else int(dsn_sent_delay),
                    entry_id,
                ),
            )

    def remove(self, ids: Sequence[int]) -> list[int]:
        """Delete entries; then messages without entries and their files.
        Returns the removed message ids."""
        with self.lock:
            with transaction(self.conn):
                msg_ids = set()
                for i in ids:
                    row = self.conn.execute(
                        "DELETE FROM entry WHERE id = ? RETURNING msg_id", (i,)
                    ).fetchone()
                    if row is not None:
                        msg_ids.add(int(row[0]))
                gone = []
                for mid in sorted(msg_ids):
                    left = self.conn.execute(
                        "SELECT 1 FROM entry WHERE msg_id = ? LIMIT 1", (mid,)
                    ).fetchone()
                    if left is None:
                        self.conn.execute("DELETE FROM message WHERE id = ?", (mid,))
                        gone.append(mid)
            # After the commit: a crash here leaves orphan files for recover().
            for mid in gone:
                self.msg_path(mid).unlink(missing_ok=True)
        return gone

    # -- administration (CLI) ----------------------------------------------

    def _require(self, entry_id: int) -> None:
        if self.conn.execute("SELECT 1 FROM entry WHERE id = ?", (entry_id,)).fetchone() is None:
            raise EntryNotFound(f"{self.datadir.queue_db}: no queue entry with id {entry_id}")

    def set_hold(self, entry_id: int, hold: bool) -> None:
        with self.lock:
            self._require(entry_id)
            self.conn.execute("UPDATE entry SET hold = ? WHERE id = ?", (int(hold), entry_id))

    def retry(self, entry_id: int | None, now: dt.datetime) -> int:
        """Make one entry (None: all) due now and release holds; count changed."""
        with self.lock:
            if entry_id is None:
                cur = self.conn.execute("UPDATE entry SET next_attempt = ?, hold = 0", (iso(now),))
            else:
                self._require(entry_id)
                cur = self.conn.execute(
                    "UPDATE entry SET next_attempt = ?, hold = 0 WHERE id = ?",
                    (iso(now), entry_id),
                )
            return int(cur.rowcount)

    def drop(self, entry_id: int) -> Entry:
        entry = self.get(entry_id)
        self.remove([entry_id])
        log.info("entry dropped", extra={"entry": entry_id, "rcpt": entry.rcpt})
        return entry

    # -- recovery ---------------------------------------------------------

    def recover(self, *, min_age: float = ORPHAN_MIN_AGE, now: float | None = None) -> list[Path]:
        """Remove message rows without entries, and files (incl. temp files)
        that no message row names and that are older than *min_age* seconds
        (younger ones may belong to an add in progress in another process).
        Returns the removed files. Rows whose file is missing are logged
        (their delivery fails permanently)."""
        removed: list[Path] = []
        cutoff = (time.time() if now is None else now) - min_age
        with self.lock:
            with transaction(self.conn):
                self.conn.execute(
                    "DELETE FROM message WHERE id NOT IN (SELECT DISTINCT msg_id FROM entry)"
                )
            base = self.datadir.queue_dir / "msg"
            files = (
                [f for b in base.iterdir() if b.is_dir() for f in b.iterdir()]
                if (base.is_dir())
                else []
            )
            # Read the rows after listing: a file committed meanwhile is known.
            known = {int(r[0]) for r in self.conn.execute("SELECT id FROM message")}
            for f in files:
                if f.name.isdigit() and int(f.name) in known:
                    continue
                try:
                    if f.lstat().st_mtime > cutoff:
                        continue
                except FileNotFoundError:
                    continue
                f.unlink(missing_ok=True)
                removed.append(f)
            for mid in known:
                if not self.msg_path(mid).is_file():
                    log.error("queued message file missing", extra={"msgid": mid})
        if removed:
            log.warning("removed orphan queue files", extra={"count": len(removed)})
        return removed


__all__ = ["QueueDB", "needs_smtputf8", "parse_recipient"]
