"""The outgoing queue in PostgreSQL, shared by several nodes: a
postel.queue.entries.QueueEntries.

Claims are leases. :meth:`PgQueueEntries.claim_due` takes due entries with
``SELECT ... FOR UPDATE SKIP LOCKED`` (two nodes claiming at once skip each
other's rows), marks them with this node's id, a fresh claim token and a lease
end (the database's clock plus *lease* seconds), and commits. Each attempt's
start renews the lease of its claim, and the runner renews the leases of all
its claims every third of the lease while attempts run (:meth:`renew_claims`),
so that an attempt longer than the lease keeps its entries. An entry whose
lease has ended is due again for any node: a node that died (or stopped)
mid-delivery leaves its entries to the others. Outcomes are written only
while the claim is still this node's (its id and token in the UPDATE): a node
that lost its lease and finishes late does not overwrite the result of the
node that claimed the entry after it.

Synchronous, as the Protocol is (the runner calls it in worker threads, the
CLI directly), over a psycopg_pool ConnectionPool of its own; see
docs/decisions.md. Message content lives in ``queue_message.data``; for
callers that need a file (:meth:`message_file`) it is written once into a
node-local spool directory.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Sequence
from pathlib import Path

import psycopg
from psycopg_pool import ConnectionPool

from postel.fsutil import write_private_copy
from postel.pg.errors import PgConnectError, PgQueueUnavailable
from postel.pg.pool import connection_options, first_line
from postel.pg.queuerows import ENTRY_COLUMNS, col_time, to_entries
from postel.pg.queuewake import QueueWake, publish
from postel.pg.rows import col_bytes, col_int
from postel.pg.settings import PgSettings
from postel.queue.addflags import add_flags, message_flags
from postel.queue.db import parse_recipient
from postel.queue.entries import Deferral
from postel.queue.errors import BadMessage, EntryNotFound
from postel.queue.headers import HEADER_LIMIT, split_header
from postel.queue.model import Entry

log = logging.getLogger("postel.pg")

DEFAULT_LEASE = 600.0  # seconds: longer than one delivery attempt takes
CLAIM_LIMIT = 1000  # entries looked at (and locked) by one claim
SPOOL_TMP_MIN_AGE = 600.0  # seconds: an older temporary spool file is a crashed writer's

SyncConn = psycopg.Connection[tuple[object, ...]]

# An entry a claim may take (one parameter: the runner's now).
_FREE_AND_DUE = (
    "NOT hold AND next_attempt <= %s AND (lease_until IS NULL OR lease_until <= clock_timestamp())"
)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def default_node() -> str:
    """host:pid, unique among the nodes running at one time."""
    return f"{socket.gethostname()}:{os.getpid()}"


def open_queue_pool(settings: PgSettings) -> ConnectionPool[SyncConn]:
    """A synchronous pool of autocommit connections (transactions are explicit)."""
    pool: ConnectionPool[SyncConn] = ConnectionPool(
        settings.conninfo(),
        min_size=1,
        max_size=settings.pool_max,
        kwargs=connection_options(settings),
        open=False,
        name=f"{settings.where} queue",
        timeout=settings.connect_timeout,  # then PgQueueUnavailable, not a 30 s wait
        check=ConnectionPool.check_connection,  # none broken by a restart handed out
        reconnect_timeout=settings.connect_timeout,  # as postel.pg.pool.open_pool
    )
    try:
        pool.open(wait=True, timeout=settings.connect_timeout)
    except Exception as exc:
        pool.close()
        raise PgConnectError(f"PostgreSQL {settings.where}: {first_line(exc)}") from None
    return pool


class PgQueueEntries:
    """The queue's entries in PostgreSQL, claimed by this node (*node*) with
    leases of *lease* seconds; *spool* a local directory for message files."""

    def __init__(
        self,
        settings: PgSettings,
        spool: Path,
        *,
        node: str | None = None,
        lease: float = DEFAULT_LEASE,
        now: Callable[[], dt.datetime] = _utcnow,
    ) -> None:
        self.where = settings.where
        self.node = node or default_node()
        self.lease = lease
        self.now = now
        self.spool = spool
        self._pool = open_queue_pool(settings)
        self._wake = QueueWake(
            settings.conninfo(), self.node, connect_timeout=settings.connect_timeout
        )
        self._listeners: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self._claims: dict[int, uuid.UUID] = {}  # entry id -> token of this node's claim

    @contextlib.contextmanager
    def _conn(self) -> Iterator[SyncConn]:
        """A pooled connection; a database that cannot be reached (no
        connection within connect_timeout, or one that broke) is
        PgQueueUnavailable, one line, for the runner to wait on."""
        try:
            with self._pool.connection() as conn:
                yield conn
        except psycopg.OperationalError as exc:  # psycopg_pool.PoolTimeout too
            where = f"PostgreSQL {self.where}: queue"
            raise PgQueueUnavailable(f"{where}: {first_line(exc)}") from None

    @contextlib.contextmanager
    def _tx(self) -> Iterator[SyncConn]:
        with self._conn() as conn, conn.transaction():
            yield conn

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
        """Queue a message for *rcpts*; entry ids. Committed when this returns;
        every node's runner is woken."""
        if isinstance(message, bytes):
            data = message
        else:
            try:
                data = Path(message).read_bytes()
            except FileNotFoundError:
                raise BadMessage(f"{message}: message file does not exist") from None
        f = add_flags(
            message_flags(data),
            mail_from,
            requiretls=requiretls,
            tls_required_no=tls_required_no,
            is_tlsrpt=is_tlsrpt,
            is_dmarc_report=is_dmarc_report,
            max_attempts=max_attempts,
        )
        unique: dict[str, str] = {}
        smtputf8 = f.smtputf8
        for rcpt in rcpts:
            addr = parse_recipient(rcpt)
            unique.setdefault(str(addr), addr.domain)
            smtputf8 = smtputf8 or addr.needs_smtputf8
        if not unique:
            raise BadMessage("no recipients to queue")
        now = self.now()
        with self._tx() as conn:
            row = conn.execute(
                "INSERT INTO queue_message (created, sender_account, mail_from, size, requiretls,"
                " tls_required_no, is_tlsrpt, is_dmarc_report, smtputf8, eightbit, subject,"
                " message_id, data) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " RETURNING id",
                (
                    now,
                    account,
                    mail_from,
                    len(data),
                    f.requiretls,
                    f.tls_required_no,
                    f.is_tlsrpt,
                    f.is_dmarc_report,
                    smtputf8,
                    f.eightbit,
                    f.subject,
                    f.message_id,
                    data,
                ),
            ).fetchone()
            assert row is not None
            msg_id = col_int(row[0])
            ids = []
            for rcpt, domain in unique.items():
                r = conn.execute(
                    "INSERT INTO queue_entry (msg_id, rcpt, domain, created, max_attempts,"
                    " next_attempt) VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                    (msg_id, rcpt, domain, now, f.max_attempts, now),
                ).fetchone()
                assert r is not None
                ids.append(col_int(r[0]))
            publish(conn, self.node)
        log.info(
            "message queued",
            extra={"msgid": msg_id, "size": len(data), "rcpts": len(ids), "account": account},
        )
        for callback in list(self._listeners):
            callback()
        return ids

    def on_added(self, callback: Callable[[], None]) -> None:
        """Call *callback* after each add: from the adding thread for this
        node's adds, from the listening thread for other nodes' adds (and their
        retries and releases)."""
        self._listeners.append(callback)
        self._wake.add(callback)

    # -- reading and administration -----------------------------------------

    def _select(self, conn: SyncConn, where: str, args: Sequence[object] = ()) -> list[Entry]:
        rows = conn.execute(
            f"SELECT {ENTRY_COLUMNS} FROM queue_entry e JOIN queue_message m"
            f" ON m.id = e.msg_id {where}",
            args,
        ).fetchall()
        return to_entries(rows)

    def entries(self) -> list[Entry]:
        """All entries, the next due first."""
        with self._conn() as conn:
            return self._select(conn, "ORDER BY e.next_attempt, e.id")

    def get(self, entry_id: int) -> Entry:
        with self._conn() as conn:
            found = self._select(conn, "WHERE e.id = %s", (entry_id,))
        if not found:
            raise self._not_found(entry_id)
        return found[0]

    def _not_found(self, entry_id: int) -> EntryNotFound:
        return EntryNotFound(f"PostgreSQL {self.where}: no queue entry with id {entry_id}")

    def counts(self) -> tuple[int, int]:
        """(entries, entries on hold)."""
        with self._conn() as conn:
            row = conn.execute(
                "SELECT count(*), count(*) FILTER (WHERE hold) FROM queue_entry"
            ).fetchone()
        assert row is not None
        return col_int(row[0]), col_int(row[1])

    def _set_hold(self, entry_id: int, hold: bool) -> None:
        with self._tx() as conn:
            cur = conn.execute("UPDATE queue_entry SET hold = %s WHERE id = %s", (hold, entry_id))
            if cur.rowcount == 0:
                raise self._not_found(entry_id)
            if not hold:
                publish(conn, self.node)

    def hold(self, entry_id: int) -> None:
        self._set_hold(entry_id, True)

    def release(self, entry_id: int) -> None:
        self._set_hold(entry_id, False)

    def drop(self, entry_id: int) -> Entry:
        """Remove the entry without a DSN (also while a node holds it: that
        node's outcome then changes nothing); the removed entry."""
        entry = self.get(entry_id)
        with self._tx() as conn:
            self._lock_messages(conn, [entry.msg.id])
            conn.execute("DELETE FROM queue_entry WHERE id = %s", (entry_id,))
            self._drop_messages(conn, [entry.msg.id])
        log.info("entry dropped", extra={"entry": entry_id, "rcpt": entry.rcpt})
        return entry

    def retry(self, entry_id: int | None) -> int:
        """Make one entry (None: all) due now and release holds; count changed."""
        now = self.now()
        with self._tx() as conn:
            if entry_id is None:
                cur = conn.execute("UPDATE queue_entry SET next_attempt = %s, hold = false", (now,))
            else:
                cur = conn.execute(
                    "UPDATE queue_entry SET next_attempt = %s, hold = false WHERE id = %s",
                    (now, entry_id),
                )
                if cur.rowcount == 0:
                    raise self._not_found(entry_id)
            publish(conn, self.node)
            return cur.rowcount

    # -- claims and attempts (the runner) -------------------------------------

    def claim_due(
        self, now: dt.datetime, *, max_domains: int, busy: Collection[str] = ()
    ) -> dict[str, list[Entry]]:
        """Claim the due entries, not held by a lease, of up to *max_domains*
        recipient domains, skipping those in *busy*; domain -> its entries,
        oldest first. Rows another node is claiming at the same moment are
        skipped, not waited for."""
        if max_domains <= 0:
            return {}
        token = uuid.uuid4()
        with self._tx() as conn:
            # Candidates without locks, the domains in the order of their first
            # due entry; then each domain's entries locked, skipping rows
            # another node is claiming (a domain it took entirely is passed
            # over for the next one). The lock re-checks the row's conditions.
            rows = conn.execute(
                f"SELECT id, domain FROM queue_entry WHERE {_FREE_AND_DUE}"
                " AND NOT (domain = ANY(%s::text[]))"
                " ORDER BY next_attempt, id LIMIT %s",
                (now, sorted(busy), CLAIM_LIMIT),
            ).fetchall()
            candidates: dict[str, list[int]] = {}
            for r in rows:
                candidates.setdefault(str(r[1]), []).append(col_int(r[0]))
            domains: list[str] = []
            ids: list[int] = []
            for domain, domain_ids in candidates.items():
                if len(domains) >= max_domains:
                    break
                locked = conn.execute(
                    f"SELECT id FROM queue_entry WHERE id = ANY(%s) AND {_FREE_AND_DUE}"
                    " FOR UPDATE SKIP LOCKED",
                    (domain_ids, now),
                ).fetchall()
                if locked:
                    domains.append(domain)
                    ids += [col_int(r[0]) for r in locked]
            if not ids:
                return {}
            conn.execute(
                "UPDATE queue_entry SET claimed_by = %s, claim = %s,"
                " lease_until = clock_timestamp() + make_interval(secs => %s)"
                " WHERE id = ANY(%s)",
                (self.node, token, self.lease, ids),
            )
            found = self._select(conn, "WHERE e.id = ANY(%s) ORDER BY e.next_attempt, e.id", (ids,))
        with self._lock:
            self._claims.update((e.id, token) for e in found)
        out: dict[str, list[Entry]] = {d: [] for d in domains}
        for e in found:
            out[e.domain].append(e)
        return {d: es for d, es in out.items() if es}

    def _held(self, ids: Collection[int], *, forget: bool) -> tuple[list[int], list[uuid.UUID]]:
        """(ids, tokens) of this node's claims among *ids*."""
        with self._lock:
            pairs = [(i, self._claims[i]) for i in ids if i in self._claims]
            if forget:
                for i, _ in pairs:
                    del self._claims[i]
        return [i for i, _ in pairs], [t for _, t in pairs]

    def next_due(self) -> dt.datetime | None:
        """When the first unheld entry not claimed by this node is due: for an
        entry another node holds, not before its lease ends."""
        with self._conn() as conn:
            row = conn.execute(
                "SELECT min(CASE WHEN lease_until > clock_timestamp()"
                " THEN greatest(next_attempt, lease_until) ELSE next_attempt END)"
                " FROM queue_entry WHERE NOT hold"
                " AND NOT (claimed_by IS NOT DISTINCT FROM %s AND lease_until > clock_timestamp())",
                (self.node,),
            ).fetchone()
        return None if row is None or row[0] is None else col_time(row[0])

    def begin_attempt(self, ids: Sequence[int]) -> None:
        """Count the attempt before it runs, and renew the lease of the claims
        the entries belong to (their domain's other entries wait in this
        node's job). Entries whose claim was lost are left alone."""
        held, tokens = self._held(ids, forget=False)
        if not held:
            return
        with self._tx() as conn:
            # The claims' rows (the other domains' jobs of the claim write
            # them too) locked at once in id order, before any is written.
            conn.execute(
                "UPDATE queue_entry SET lease_until = clock_timestamp() + make_interval(secs => %s)"
                " WHERE id IN (SELECT id FROM queue_entry WHERE claimed_by = %s"
                " AND claim = ANY(%s) ORDER BY id FOR UPDATE)",
                (self.lease, self.node, sorted(set(tokens))),
            )
            conn.execute(
                "UPDATE queue_entry e SET attempts = attempts + 1, last_attempt = %s"
                " FROM unnest(%s::bigint[], %s::uuid[]) AS c(id, claim)"
                " WHERE e.id = c.id AND e.claim = c.claim AND e.claimed_by = %s",
                (self.now(), held, tokens, self.node),
            )

    def finish(self, done: Sequence[int], deferred: Sequence[Deferral]) -> None:
        """Record outcomes of this node's claims: *done* entries removed (and
        their message when it has no entry left), *deferred* ones rescheduled;
        the claims end. Entries whose claim another node holds now (the lease
        ran out) or that were dropped are left as they are."""
        by_id = {d.entry_id: d for d in deferred}
        held_done, done_tokens = self._held(done, forget=True)
        held_def, def_tokens = self._held(list(by_id), forget=True)
        lost = len(done) + len(deferred) - len(held_done) - len(held_def)
        written = 0
        with self._tx() as conn:
            msg_ids: list[int] = []
            if held_done:
                msg_rows = conn.execute(
                    "SELECT DISTINCT msg_id FROM queue_entry WHERE id = ANY(%s)", (held_done,)
                ).fetchall()
                msg_ids = sorted(col_int(r[0]) for r in msg_rows)
                self._lock_messages(conn, msg_ids)
            self._lock_entries(conn, [*held_def, *held_done])
            for i, token in zip(held_def, def_tokens, strict=True):
                d = by_id[i]
                cur = conn.execute(
                    "UPDATE queue_entry SET next_attempt = %s, last_error = %s, last_code = %s,"
                    " last_enhanced = %s, remote_mta = %s,"
                    " dsn_sent_delay = dsn_sent_delay OR %s,"
                    " claimed_by = NULL, claim = NULL, lease_until = NULL"
                    " WHERE id = %s AND claimed_by = %s AND claim = %s",
                    (
                        d.next_attempt,
                        d.error[:2000],
                        d.code,
                        d.enhanced,
                        d.remote_mta,
                        d.dsn_sent_delay,
                        i,
                        self.node,
                        token,
                    ),
                )
                written += cur.rowcount
            if held_done:
                cur = conn.execute(
                    "DELETE FROM queue_entry e"
                    " USING unnest(%s::bigint[], %s::uuid[]) AS c(id, claim)"
                    " WHERE e.id = c.id AND e.claim = c.claim AND e.claimed_by = %s",
                    (held_done, done_tokens, self.node),
                )
                written += cur.rowcount
                gone = self._drop_messages(conn, msg_ids)
            else:
                gone = []
        for mid in gone:
            self._spool_path(mid).unlink(missing_ok=True)
        lost += len(held_done) + len(held_def) - written
        if lost:
            log.warning(
                "outcomes not recorded: claim lost or entry gone",
                extra={"entries": lost, "node": self.node},
            )

    @staticmethod
    def _lock_messages(conn: SyncConn, msg_ids: Sequence[int]) -> None:
        """Lock the message rows (in id order) before removing their entries: two
        nodes removing the last entries of one message then see each other's
        removal, and the message goes with its last entry."""
        if msg_ids:
            conn.execute(
                "SELECT id FROM queue_message WHERE id = ANY(%s) ORDER BY id FOR UPDATE",
                (list(msg_ids),),
            )

    @staticmethod
    def _lock_entries(conn: SyncConn, ids: Sequence[int]) -> None:
        """Lock entry rows in id order before writing them: every transaction
        of the runner locks its message rows first, then its entry rows in
        one ordered statement, so two of them never wait for each other in a
        cycle (a deadlock aborts one, and its outcome would be lost)."""
        if ids:
            conn.execute(
                "SELECT id FROM queue_entry WHERE id = ANY(%s) ORDER BY id FOR UPDATE",
                (sorted(ids),),
            )

    @staticmethod
    def _drop_messages(conn: SyncConn, msg_ids: Sequence[int]) -> list[int]:
        if not msg_ids:
            return []
        rows = conn.execute(
            "DELETE FROM queue_message m WHERE m.id = ANY(%s)"
            " AND NOT EXISTS (SELECT 1 FROM queue_entry e WHERE e.msg_id = m.id) RETURNING id",
            (list(msg_ids),),
        ).fetchall()
        return [col_int(r[0]) for r in rows]

    @property
    def renew_every(self) -> float | None:
        """A third of the lease: two renewals may fail (a slow database)
        before the lease ends."""
        return self.lease / 3

    def renew_claims(self) -> None:
        """Extend the lease of every claim this node holds (attempts running,
        and entries waiting in its jobs), so that an attempt longer than the
        lease keeps its entries while the node runs. Claims another node has
        taken over meanwhile are left alone."""
        with self._lock:
            tokens = sorted(set(self._claims.values()), key=str)
        if not tokens:
            return
        with self._tx() as conn:
            conn.execute(
                "UPDATE queue_entry SET lease_until = clock_timestamp() + make_interval(secs => %s)"
                " WHERE claimed_by = %s AND claim = ANY(%s)",
                (self.lease, self.node, tokens),
            )

    def unclaim(self, ids: Collection[int]) -> None:
        """End this node's claims of *ids* without an outcome (a cancelled
        attempt): due again at once for any node. No database work when every
        claim already ended with an outcome."""
        held, tokens = self._held(ids, forget=True)
        if not held:
            return
        with self._tx() as conn:
            self._lock_entries(conn, held)
            conn.execute(
                "UPDATE queue_entry e SET claimed_by = NULL, claim = NULL, lease_until = NULL"
                " FROM unnest(%s::bigint[], %s::uuid[]) AS c(id, claim)"
                " WHERE e.id = c.id AND e.claim = c.claim AND e.claimed_by = %s",
                (held, tokens, self.node),
            )

    # -- content ----------------------------------------------------------

    def message_bytes(self, msg_id: int) -> bytes | None:
        """The message's content; None when it is gone."""
        with self._conn() as conn:
            row = conn.execute("SELECT data FROM queue_message WHERE id = %s", (msg_id,)).fetchone()
        return None if row is None else col_bytes(row[0])

    def _spool_path(self, msg_id: int) -> Path:
        return self.spool / f"{msg_id % 256:02x}" / str(msg_id)

    def message_file(self, msg_id: int) -> Path | None:
        """The message as a file of this node's spool (written on first use; a
        message's content never changes); None when it is gone."""
        path = self._spool_path(msg_id)
        if path.is_file():
            return path
        data = self.message_bytes(msg_id)
        if data is None:
            return None
        write_private_copy(path, data)
        return path

    def header_block(self, msg_id: int) -> bytes:
        """The message's header (for a DSN); empty when the message is gone."""
        with self._conn() as conn:
            row = conn.execute(
                "SELECT substring(data FROM 1 FOR %s) FROM queue_message WHERE id = %s",
                (HEADER_LIMIT, msg_id),
            ).fetchone()
        return b"" if row is None else split_header(col_bytes(row[0]))

    # -- housekeeping -----------------------------------------------------

    def recover(self, *, min_age: float | None = None) -> None:
        """Remove messages without entries (left by a removal that raced
        another) and spool files of messages that are gone. Adds are one
        transaction each: there are no half-added messages; *min_age* is
        accepted for the Protocol and unused."""
        with self._tx() as conn:
            conn.execute(
                "DELETE FROM queue_message m"
                " WHERE NOT EXISTS (SELECT 1 FROM queue_entry e WHERE e.msg_id = m.id)"
            )
            known = {col_int(r[0]) for r in conn.execute("SELECT id FROM queue_message")}
        if not self.spool.is_dir():
            return
        cutoff = time.time() - (SPOOL_TMP_MIN_AGE if min_age is None else min_age)
        for bucket in self.spool.iterdir():
            if not bucket.is_dir():
                continue
            for f in bucket.iterdir():
                if f.name.isdigit():
                    if int(f.name) not in known:
                        f.unlink(missing_ok=True)
                    continue
                with contextlib.suppress(FileNotFoundError):
                    if f.lstat().st_mtime < cutoff:
                        f.unlink(missing_ok=True)

    def close(self) -> None:
        self._wake.stop()
        self._pool.close()
