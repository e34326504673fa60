"""Placing messages in an account: the one transaction that links message
files into msg/ and commits their index rows, and the entry points that reach
it through the store's batcher (store/batching.py).

Durability (docs/data-safety.md): a delivered file is linked
into msg/<bucket>/<msgid> and its directory fsynced before the index row is
committed; if anything fails in between, the row is rolled back and the
linked file removed. Message files are never changed after that, so backups
can hard-link them.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import errno
import logging
import mmap
import os
import shutil
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from postel.fsutil import fsync_dir, fsync_file
from postel.store import mimestructure, threads
from postel.store.accountbase import AccountBase, _commit, _ensure_dir, _iso
from postel.store.bodytext import READ_LIMIT, body_text
from postel.store.changes import ChangeLog
from postel.store.envelope import Envelope, parse_envelope, read_header_block
from postel.store.errors import InvalidFlag, OverQuota
from postel.store.jobs import Delivery, Job
from postel.store.message import Message
from postel.store.mimestructure import map_file
from postel.store.msgfile import temp_path
from postel.store.names import join_flags, split_flags
from postel.store.recovery import drop_rows
from postel.store.search import FTS_TABLE, fts_row

if TYPE_CHECKING:
    from postel.store.batching import DeliveryBatcher

log = logging.getLogger("postel.store")

ORPHANS_DIR = "orphans"
# link(2) errors after which the file is copied instead (other file system ...).
_COPY_ERRNOS = (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP)
_COPY_CHUNK = 1024 * 1024


@dataclass(eq=False, slots=True)
class _Pending:
    """One delivery of a batch, prepared for its transaction (:meth:`Placing._deliver_now`)."""

    mailbox: str
    source: str
    size: int
    env: Envelope
    sysflags: frozenset[str]
    kws: frozenset[str]
    when: datetime
    requiretls: bool
    body: str = ""  # searchable text (store/bodytext.py)
    # the MIME structure and the top header's common fields (store/mimestructure.py)
    mime: tuple[bytes, bytes] | None = None
    unsynced: bool = False  # the file's data is not fsynced yet (Delivery.unsynced)
    result: Message | None = None
    error: BaseException | None = None


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


def no_quota() -> int:
    return 0


class Placing(AccountBase):
    """Delivering messages into an account (part of AccountStore)."""

    _batcher: DeliveryBatcher
    # The account's quota in bytes (0: none), asked at each delivery batch:
    # set by the Store from the configuration (domains.toml ``quota``).
    quota: Callable[[], int] = staticmethod(no_quota)

    def usage(self) -> int:
        """Bytes of the account's messages (the sum the quota is checked against)."""
        with self._lock:
            self._check_open()
            row = self._conn.execute("SELECT COALESCE(SUM(size), 0) FROM mailbox").fetchone()
        return int(row[0])

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
        per message directory), through the store's batcher, with the waiting
        deliveries of other callers. Each gets its Message or its own error: a
        failed one is rolled back to its savepoint, the others are kept. All
        are durable when this returns."""
        jobs = [Job.of(self.name, d) for d in deliveries]
        return [_one(job) for job in self._batcher.deliver_wait(jobs)]

    def _deliver_now(self, deliveries: Sequence[Delivery]) -> list[Message | Exception]:
        """Deliver *deliveries* in one transaction in this thread: the step of
        the batcher (store/batching.py); everyone else calls :meth:`deliver_many`."""
        results: list[Message | Exception | None] = [None] * len(deliveries)
        reqs: list[tuple[int, _Pending]] = []
        for i, d in enumerate(deliveries):
            try:
                reqs.append((i, self._prepare(d)))
            except Exception as exc:
                results[i] = exc
        if reqs:
            with self._lock:
                self._deliver_batch([req for _, req in reqs])
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
            # Size and text known from writing the file are not computed again;
            # the MIME structure is parsed here, once per delivery.
            size = os.fstat(fp.fileno()).st_size if d.size is None else d.size
            if env is None:
                env = parse_envelope(read_header_block(fp))
                fp.seek(0)
            text = d.text
            body = self._body_text(fp.read(READ_LIMIT), source) if text is None else text
            mime = self._structure(fp, source)
        when = d.received if d.received is not None else datetime.now(UTC)
        return _Pending(
            mailbox, source, size, env, sysflags, kws, when, d.requiretls, body, mime, d.unsynced
        )

    def _structure(self, fp: BinaryIO, source: str) -> tuple[bytes, bytes] | None:
        """The stored form of the message's MIME structure and its header's
        common fields, parsed from the mapped file; None (computed on first
        IMAP use) when it cannot be."""
        buf = map_file(fp)
        try:
            return mimestructure.stored_form(buf)
        except Exception as exc:
            log.warning(
                "MIME structure not stored",
                extra={"account": self.name, "path": source, "err": repr(exc)},
            )
            return None
        finally:
            if isinstance(buf, mmap.mmap):
                buf.close()

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
                self._changelog = changelog = ChangeLog(conn)
                try:
                    changelog.modseq()  # outside the savepoints: kept if one rolls back
                    dirs: dict[int, None] = {}
                    # mailbox name -> [id, uidnext] inside this transaction
                    boxes: dict[str, list[int]] = {}
                    quota = self.quota()
                    used = self._used() if quota else 0  # inside the write lock: exact
                    for req in batch:
                        conn.execute("SAVEPOINT deliver")
                        target: str | None = None
                        mark = changelog.mark()
                        try:
                            if quota and used + req.size > quota:
                                raise OverQuota(self.name, used, quota, req.size)
                            req.result, target = self._deliver_one(req, boxes)
                            used += req.size
                            dirs[req.result.msgid // 1000] = None
                            placed.append(target)
                            conn.execute("RELEASE deliver")
                        except Exception as exc:
                            boxes.clear()  # the rollback undoes uidnext and new mailboxes
                            changelog.rollback_to(mark)
                            conn.execute("ROLLBACK TO deliver")
                            conn.execute("RELEASE deliver")
                            if target is not None:
                                with contextlib.suppress(FileNotFoundError):
                                    os.unlink(target)
                            req.result, req.error = None, exc
                    # The new files are fsynced while the index commits (docs/
                    # data-safety.md, Durability): both are durable before this
                    # returns, and a crash in between leaves rows that the
                    # recovery pass at start removes (store/recovery.py).
                    syncing = self._start_syncs(batch, dirs)
                    _commit(conn)
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    for target in placed:
                        with contextlib.suppress(FileNotFoundError):
                            os.unlink(target)
                    raise
            finally:
                self._changelog = None
                self._funlock()
            failed = self._finish_syncs(batch, syncing)
            if failed:
                self._forget_removed(failed)
            self._published(changelog)
            if failed:
                self._take_back(batch, failed)
        except BaseException as exc:
            for req in batch:
                req.result = None
                if req.error is None:
                    req.error = exc
            if not isinstance(exc, Exception):
                raise
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

    def _start_syncs(
        self, batch: list[_Pending], dirs: dict[int, None]
    ) -> tuple[list[tuple[_Pending, Future[None]]], Future[list[tuple[int, Exception]]]]:
        """Start, in the batcher's fsync threads, the fsync of every new file of
        *batch* placed so far (at the same time: one journal commit for all),
        and a task that fsyncs the directories *dirs* once they are done
        (cheap then: the files' journal commit carried their entries)."""
        pool = self._batcher.fsync_pool()
        files = [
            (req, pool.submit(fsync_file, self._target(req.result.msgid)))
            for req in batch
            if req.unsynced and req.result is not None
        ]
        # Queued after the files' tasks: a thread takes it only once every
        # one of them was taken, so its waiting cannot hold them up.
        directories = pool.submit(self._sync_dirs, [f for _, f in files], list(dirs))
        return files, directories

    def _sync_dirs(
        self, files: list[Future[None]], buckets: list[int]
    ) -> list[tuple[int, Exception]]:
        concurrent.futures.wait(files)
        failed: list[tuple[int, Exception]] = []
        for bucket in buckets:
            try:
                fsync_dir(self._msgdir / str(bucket))
            except Exception as exc:
                failed.append((bucket, exc))
        return failed

    def _finish_syncs(
        self,
        batch: list[_Pending],
        syncing: tuple[list[tuple[_Pending, Future[None]]], Future[list[tuple[int, Exception]]]],
    ) -> dict[int, BaseException]:
        """Wait for the fsyncs of the files and their directories; the msgids
        whose file or directory could not be made durable, with the error."""
        files, directories = syncing
        failed: dict[int, BaseException] = {}
        for req, fut in files:
            try:
                fut.result()
            except Exception as exc:
                assert req.result is not None
                failed[req.result.msgid] = exc
        for bucket, error in directories.result():
            for req in batch:
                if req.result is not None and req.result.msgid // 1000 == bucket:
                    failed.setdefault(req.result.msgid, error)
        return failed

    def _forget_removed(self, failed: dict[int, BaseException]) -> None:
        """Drop from *failed* the deliveries removed since the commit: once the
        index lock is released, another connection (an IMAP expunge, a
        webmail delete) may remove a message before an fsync thread gets to
        its file, which is then missing. Removal deletes the row before the
        file (AccountStore.remove), so a missing file whose row is gone too
        was delivered and then removed, not lost: its 250 is honest, and a 451
        would make the sender deliver it again. A missing file whose row is
        still there stays a failure and is taken back."""
        missing = [m for m, exc in failed.items() if isinstance(exc, FileNotFoundError)]
        if not missing:
            return
        marks = ",".join("?" * len(missing))
        present = {
            int(r[0])
            for r in self._conn.execute(
                f"SELECT id FROM message WHERE id IN ({marks})", missing
            ).fetchall()
        }
        for msgid in missing:
            if msgid not in present:
                del failed[msgid]
                log.info(
                    "message removed before its file was fsynced",
                    extra={"account": self.name, "msgid": msgid},
                )

    def _take_back(self, batch: list[_Pending], failed: dict[int, BaseException]) -> None:
        """Remove the committed rows of the deliveries in *failed* (their file
        is not durable) and fail them, as the recovery pass would after a crash."""
        log.error(
            "message files not durable: deliveries taken back",
            extra={
                "account": self.name,
                "msgids": sorted(failed),
                "err": repr(next(iter(failed.values()))),
            },
        )
        with self._write():
            drop_rows(self._conn, self._changes(), sorted(failed))
        for req in batch:
            if req.result is not None and req.result.msgid in failed:
                msgid = req.result.msgid
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self._target(msgid))
                req.result, req.error = None, failed[msgid]

    def _target(self, msgid: int) -> str:
        return f"{self._msgdir_str}/{msgid // 1000}/{msgid}"

    def _used(self) -> int:
        row = self._conn.execute("SELECT COALESCE(SUM(size), 0) FROM mailbox").fetchone()
        return int(row[0])

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
        changelog = self._changes()
        modseq = changelog.modseq()
        cur = conn.execute(
            "INSERT INTO message (mailbox_id, uid, modseq, flags, keywords, size, received, "
            "requiretls, subject, from_addr, to_addr, cc, date, message_id, in_reply_to, "
            "has_attachments) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                mailbox_id,
                uid,
                modseq,
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
        if req.mime is not None:
            conn.execute(
                "INSERT INTO message_mime (id, mime, head) VALUES (?, ?, ?)", (msgid, *req.mime)
            )
        conn.execute(
            f"INSERT INTO {FTS_TABLE} (rowid, subject, sender, recipients, body) "
            "VALUES (?, ?, ?, ?, ?)",
            (msgid, *fts_row(env.subject, env.from_, env.to, env.cc, req.body)),
        )
        thread = threads.assign(conn, msgid, env, when)
        conn.execute(
            "UPDATE mailbox SET uidnext = uidnext + 1, total = total + 1, "
            "unseen = unseen + ?, size = size + ?, highestmodseq = ? WHERE id = ?",
            (0 if "\\Seen" in sysflags else 1, req.size, modseq, mailbox_id),
        )
        changelog.added(req.mailbox, uid)
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
            modseq=modseq,
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
        """Deliver *data* to *mailbox*: the batcher writes it to a fsynced
        temporary file in the data dir's tmp/ and delivers that."""
        _ensure_dir(self._tmpdir)
        tmp = temp_path(self._tmpdir)
        d = Delivery(mailbox, tmp, flags, keywords, received, requiretls)
        job = Job.of(self.name, d, write=(b"", data))
        try:
            (done,) = self._batcher.deliver_wait([job])
        finally:
            tmp.unlink(missing_ok=True)
        result = _one(done)
        if isinstance(result, BaseException):
            raise result
        return result

    def append(
        self,
        mailbox: str,
        data: bytes,
        flags: Iterable[str] = (),
        internal_date: datetime | None = None,
        *,
        requiretls: bool = False,
    ) -> Message:
        """Add the message *data* to *mailbox* with *flags* (system flags and
        keywords) and *internal_date* (now when None): IMAP APPEND (RFC 9051
        §6.3.12), the webmail's Sent and Drafts. Durable when this returns."""
        return self.deliver_bytes(
            mailbox, data, flags=flags, received=internal_date, requiretls=requiretls
        )


def _one(job: Job) -> Message | Exception:
    """The outcome of a job with one target: its Message or its error."""
    error = job.failed if job.failed is not None else job.error
    if error is not None:
        return error if isinstance(error, Exception) else RuntimeError(repr(error))
    ((_, message),) = job.delivered
    return message
