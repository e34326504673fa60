"""The store of outgoing entries: what the CLI, the webmail, the report senders,
DSN generation and the runner use. SQLite (queue/index.db) and the message
files under queue/msg/ are this module's business; callers see entries.

Thread-safe: one connection, used under a lock, from whichever thread calls
(async callers use a worker thread). Other processes (SMTP workers, the CLI)
open their own store on the same files (SQLite WAL).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from postel.datadir import DataDir
from postel.queue.addflags import add_flags, message_flags
from postel.queue.db import QueueDB
from postel.queue.headers import read_header_block
from postel.queue.model import Entry

log = logging.getLogger("postel.queue")

CLAIM_LIMIT = 1000  # entries of one domain taken by one claim; the rest by later ones


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Deferral:
    """An entry to try again at ``next_attempt``, with the attempt's error."""

    entry_id: int
    next_attempt: dt.datetime
    error: str
    code: int = 0
    enhanced: str = ""
    remote_mta: str = ""
    dsn_sent_delay: bool = False  # a delay DSN went out with this attempt


class QueueEntries(Protocol):
    """Outgoing entries, one per (message, recipient).

    Claims: the runner claims the due entries of some recipient domains
    (:meth:`claim_due`), marks each attempt's start (:meth:`begin_attempt`)
    and records its outcome (:meth:`finish`), which ends the claim of those
    entries; :meth:`unclaim` ends the claims of entries left without an
    outcome (a cancelled attempt). A claimed entry is not returned by another
    claim until then. This store claims within its process; a backend shared
    by several nodes implements a claim as a lease that expires, so that a
    node's crash leaves the entries to the others (postel.pg.queue).

    Content: :meth:`message_bytes` on every backend; :meth:`message_file` for
    callers that send from a file (a shared backend writes it into a local
    spool on first use).
    """

    def add(
        self,
        account: str,
        mail_from: str,
        rcpts: Sequence[str],
        message: Path | bytes,
        *,
        requiretls: bool = False,
        tls_required_no: bool | None = None,
        is_tlsrpt: bool | None = None,
        is_dmarc_report: bool = False,
        max_attempts: int | None = None,
    ) -> list[int]: ...
    def entries(self) -> list[Entry]: ...
    def get(self, entry_id: int) -> Entry: ...
    def counts(self) -> tuple[int, int]: ...
    def hold(self, entry_id: int) -> None: ...
    def release(self, entry_id: int) -> None: ...
    def drop(self, entry_id: int) -> Entry: ...
    def retry(self, entry_id: int | None) -> int: ...
    def claim_due(
        self, now: dt.datetime, *, max_domains: int, busy: Collection[str] = ()
    ) -> dict[str, list[Entry]]: ...
    def next_due(self) -> dt.datetime | None: ...
    def begin_attempt(self, ids: Sequence[int]) -> None: ...
    def finish(self, done: Sequence[int], deferred: Sequence[Deferral]) -> None: ...
    def unclaim(self, ids: Collection[int]) -> None: ...
    @property
    def renew_every(self) -> float | None:
        """Seconds between the runner's :meth:`renew_claims` calls while it
        has attempts running; None: claims do not expire."""
        ...

    def renew_claims(self) -> None: ...
    def message_file(self, msg_id: int) -> Path | None: ...
    def message_bytes(self, msg_id: int) -> bytes | None: ...
    def header_block(self, msg_id: int) -> bytes: ...
    def recover(self, *, min_age: float | None = None) -> None: ...
    def on_added(self, callback: Callable[[], None]) -> None: ...
    def close(self) -> None: ...


class SQLiteQueueEntries:
    """queue/index.db + queue/msg/: the embedded :class:`QueueEntries`."""

    def __init__(self, datadir: DataDir, *, now: Callable[[], dt.datetime] = _utcnow) -> None:
        self.now = now
        self._db = QueueDB.open(datadir)
        self._lock = threading.RLock()
        # Claimed entry ids, under their own lock: ending claims (unclaim, from
        # the event loop) never waits for a database call in progress.
        self._claims_lock = threading.Lock()
        self._claimed: set[int] = set()
        self._listeners: list[Callable[[], None]] = []

    # -- adding -----------------------------------------------------------

    def add(
        self,
        account: str,
        mail_from: str,
        rcpts: Sequence[str],
        message: Path | bytes,
        *,
        requiretls: bool = False,
        tls_required_no: bool | None = None,
        is_tlsrpt: bool | None = None,
        is_dmarc_report: bool = False,
        max_attempts: int | None = None,
    ) -> list[int]:
        """Queue a message (a complete file or its bytes) for *rcpts*; entry ids.

        Durable when this returns: the SMTP server says 250 after it. The
        TLS-Required: No and TLS-Report-Domain headers are read from the
        message unless given.
        """
        f = add_flags(
            message_flags(message),
            mail_from,
            requiretls=requiretls,
            tls_required_no=tls_required_no,
            is_tlsrpt=is_tlsrpt,
            is_dmarc_report=is_dmarc_report,
            max_attempts=max_attempts,
        )
        with self._lock:
            ids = self._db.add(
                message,
                account=account,
                mail_from=mail_from,
                rcpts=list(rcpts),
                requiretls=f.requiretls,
                tls_required_no=f.tls_required_no,
                is_tlsrpt=f.is_tlsrpt,
                is_dmarc_report=f.is_dmarc_report,
                smtputf8=f.smtputf8,
                eightbit=f.eightbit,
                max_attempts=f.max_attempts,
                now=self.now(),
                subject=f.subject,
                message_id=f.message_id,
            )
        for callback in list(self._listeners):
            callback()
        return ids

    def on_added(self, callback: Callable[[], None]) -> None:
        """Call *callback* (from the adding thread) after each add in this process."""
        self._listeners.append(callback)

    # -- reading and administration -----------------------------------------

    def entries(self) -> list[Entry]:
        """All entries, the next due first."""
        with self._lock:
            return self._db.entries()

    def get(self, entry_id: int) -> Entry:
        """The entry; EntryNotFound when there is none."""
        with self._lock:
            return self._db.get(entry_id)

    def counts(self) -> tuple[int, int]:
        """(entries, entries on hold): the queue's size for metrics and health."""
        with self._lock:
            return self._db.counts()

    def hold(self, entry_id: int) -> None:
        with self._lock:
            self._db.set_hold(entry_id, True)

    def release(self, entry_id: int) -> None:
        with self._lock:
            self._db.set_hold(entry_id, False)

    def drop(self, entry_id: int) -> Entry:
        """Remove the entry without a DSN; the removed entry."""
        with self._lock:
            return self._db.drop(entry_id)

    def retry(self, entry_id: int | None) -> int:
        """Make one entry (None: all) due now and release holds; count changed."""
        with self._lock:
            return self._db.retry(entry_id, self.now())

    # -- claims and attempts (the runner) -------------------------------------

    def claim_due(
        self, now: dt.datetime, *, max_domains: int, busy: Collection[str] = ()
    ) -> dict[str, list[Entry]]:
        """Claim the unclaimed due entries of up to *max_domains* recipient
        domains, skipping those in *busy*; domain -> its entries, oldest first
        (up to CLAIM_LIMIT a domain). Reads the domains' entries through an
        index, so that a claim's cost does not grow with the queue."""
        out: dict[str, list[Entry]] = {}
        with self._lock:  # one claim at a time: no entry is claimed twice
            claimed = self._claimed_now()
            for domain in self._db.due_domains(now, max_domains, claimed, busy):
                found = self._db.due_of_domain(domain, now, CLAIM_LIMIT, claimed)
                if found:
                    out[domain] = found
                    ids = [e.id for e in found]
                    claimed.update(ids)
                    with self._claims_lock:
                        self._claimed.update(ids)
        return out

    def _claimed_now(self) -> set[int]:
        with self._claims_lock:
            return set(self._claimed)

    def next_due(self) -> dt.datetime | None:
        """When the first unclaimed, unheld entry is due."""
        with self._lock:
            return self._db.next_due(self._claimed_now())

    def begin_attempt(self, ids: Sequence[int]) -> None:
        """Count the attempt before it runs: a message that crashes the process
        still runs out of attempts."""
        with self._lock:
            self._db.begin_attempt(ids, self.now())

    def finish(self, done: Sequence[int], deferred: Sequence[Deferral]) -> None:
        """Record attempts' outcomes: *done* entries removed (with their message
        when it has no entry left), *deferred* ones rescheduled; claims end."""
        with self._lock:
            try:
                for d in deferred:
                    self._db.reschedule(
                        d.entry_id,
                        d.next_attempt,
                        error=d.error,
                        code=d.code,
                        enhanced=d.enhanced,
                        remote_mta=d.remote_mta,
                        dsn_sent_delay=True if d.dsn_sent_delay else None,
                    )
                if done:
                    self._db.remove(done)
            finally:
                with self._claims_lock:
                    self._claimed.difference_update(done)
                    self._claimed.difference_update(d.entry_id for d in deferred)

    def unclaim(self, ids: Collection[int]) -> None:
        with self._claims_lock:
            self._claimed.difference_update(ids)

    @property
    def renew_every(self) -> float | None:
        """None: claims last as long as the process."""
        return None

    def renew_claims(self) -> None:
        """Nothing to renew (claims do not expire)."""

    def message_file(self, msg_id: int) -> Path | None:
        """A local file with the message; None when it is missing."""
        path = self._db.msg_path(msg_id)
        return path if path.is_file() else None

    def message_bytes(self, msg_id: int) -> bytes | None:
        """The message's content; None when it is missing."""
        try:
            return self._db.msg_path(msg_id).read_bytes()
        except FileNotFoundError:
            return None

    def header_block(self, msg_id: int) -> bytes:
        """The message's header (for a DSN); empty when the file is missing."""
        path = self.message_file(msg_id)
        return b"" if path is None else read_header_block(path)

    def recover(self, *, min_age: float | None = None) -> None:
        """Orphan files of crashed adds and message rows without entries (see QueueDB)."""
        with self._lock:
            if min_age is None:
                self._db.recover()
            else:
                self._db.recover(min_age=min_age)

    def close(self) -> None:
        with self._lock:
            self._db.close()
