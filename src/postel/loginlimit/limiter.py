"""The login limiter's state in auth.db, shared by every process of a data dir,
or in a :class:`LimitStorage` shared by several nodes (postel.pg.loginlimits).

Each attempt is a row written before the password is checked (a reservation
in one write transaction, so processes and threads see each other's
attempts); a failed attempt simply stays. A success removes the failures of
that client and account only, and marks the client as trusted for the
account. Rows older than the window are pruned, and at most
``Settings.max_records`` are kept.
"""

from __future__ import annotations

import asyncio
import logging
import math
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from postel.db import DBError, open_db
from postel.loginlimit.errors import LimiterUnavailable, TooManyAttempts
from postel.loginlimit.keys import client_key
from postel.loginlimit.policy import Count, Settings, wait

log = logging.getLogger("postel.loginlimit")

PRUNE_EVERY = 100  # reservations of one process between two prunings


@dataclass(frozen=True)
class Attempt:
    """A reserved attempt: counted as a failure unless :meth:`LoginLimiter.succeeded`."""

    id: int
    client: str
    account: str


class LimitStorage(Protocol):
    """Where the failures are counted when not in auth.db: the same rows and
    the same rules (policy.wait), for the attempts of several nodes."""

    async def reserve(
        self, client: str, account: str, now: float, settings: Settings
    ) -> tuple[float, int]:
        """Seconds the attempt must wait, or 0 and the id of its row, written
        in the same transaction as the counts it was decided on. Raises
        LimiterUnavailable when the storage fails."""
        ...

    async def succeeded(self, client: str, account: str, now: float) -> None:
        """Forget the failures of *client* for *account*, trust the client for it."""
        ...


class LoginLimiter:
    """Thread-safe; the database connection is opened on first use. Close when done.
    With *shared*, :meth:`reserve` and :meth:`succeeded` count there instead of
    in auth.db (the nodes of one PostgreSQL store); the ``_sync`` methods
    always count in auth.db."""

    def __init__(
        self,
        path: Path,
        settings: Settings | None = None,
        clock: Callable[[], float] = time.time,
        *,
        shared: LimitStorage | None = None,
    ) -> None:
        self.path = Path(path)
        self.settings = settings or Settings()
        self.clock = clock  # wall clock: shared between processes
        self.shared = shared
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._reserved = 0

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            from postel.store.credentials import MIGRATIONS

            conn = open_db(self.path, MIGRATIONS)
            # Losing the last attempts on power loss is fine; an fsync per attempt is not.
            conn.execute("PRAGMA synchronous = NORMAL")
            self._conn = conn
        return self._conn

    def _count(
        self, conn: sqlite3.Connection, where: str, args: tuple[str, ...], free: int, now: float
    ) -> Count:
        # Counted only as far as the delay can grow (it doubles up to max_delay),
        # so a key with many failures costs no more than one with a few.
        since = now - self.settings.window
        most = free + 64
        n = conn.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM login_failure WHERE {where} AND at > ? LIMIT ?)",
            (*args, since, most),
        ).fetchone()[0]
        latest = conn.execute(
            f"SELECT max(at) FROM login_failure WHERE {where} AND at > ?", (*args, since)
        ).fetchone()[0]
        return Count(int(n), float(latest or 0), free)

    def _counts(
        self, conn: sqlite3.Connection, client: str, account: str, now: float
    ) -> list[Count]:
        s = self.settings
        out = [
            self._count(
                conn,
                "client = ? AND account = ?",
                (client, account),
                s.free_per_client_account,
                now,
            ),
            self._count(conn, "client = ?", (client,), s.free_per_client, now),
        ]
        trusted = conn.execute(
            "SELECT 1 FROM login_trusted WHERE client = ? AND account = ? AND at > ?",
            (client, account, now - s.trusted_for),
        ).fetchone()
        if trusted is None:
            out.append(self._count(conn, "account = ?", (account,), s.free_per_account, now))
        return out

    def _prune(self, conn: sqlite3.Connection, now: float) -> None:
        s = self.settings
        conn.execute("DELETE FROM login_failure WHERE at <= ?", (now - s.window,))
        conn.execute("DELETE FROM login_trusted WHERE at <= ?", (now - s.trusted_for,))
        conn.execute(
            "DELETE FROM login_failure WHERE id <= "
            "(SELECT id FROM login_failure ORDER BY id DESC LIMIT 1 OFFSET ?)",
            (s.max_records,),
        )

    def reserve_sync(self, host: str | None, account: str) -> Attempt:
        """Count an attempt by client *host* for *account* (a keys.account_key)
        before its password is checked. Raises TooManyAttempts when it has to
        wait, LimiterUnavailable when the database fails (refused, never unchecked)."""
        client = client_key(host)
        now = self.clock()
        try:
            with self._lock:
                conn = self._db()
                conn.execute("BEGIN IMMEDIATE")
                try:
                    left = wait(self._counts(conn, client, account, now), self.settings, now)
                    row_id = 0
                    if left <= 0:
                        cur = conn.execute(
                            "INSERT INTO login_failure (client, account, at) VALUES (?, ?, ?)",
                            (client, account, now),
                        )
                        row_id = int(cur.lastrowid or 0)
                        self._reserved += 1
                        if self._reserved % PRUNE_EVERY == 1:
                            self._prune(conn, now)
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
        except (sqlite3.Error, DBError) as exc:
            log.error("login limiter failed", extra={"file": str(self.path), "err": str(exc)})
            raise LimiterUnavailable(f"login limiter {self.path}: {exc}", 1.0) from exc
        _refuse_if_waiting(client, left)
        return Attempt(row_id, client, account)

    def succeeded_sync(self, attempt: Attempt) -> None:
        """The attempt's password was right: forget this client's failures for
        this account (only), and trust the client for the account."""
        now = self.clock()
        try:
            with self._lock:
                conn = self._db()
                conn.execute("BEGIN IMMEDIATE")
                try:
                    conn.execute(
                        "DELETE FROM login_failure WHERE client = ? AND account = ?",
                        (attempt.client, attempt.account),
                    )
                    conn.execute(
                        "INSERT INTO login_trusted (client, account, at) VALUES (?, ?, ?) "
                        "ON CONFLICT (client, account) DO UPDATE SET at = excluded.at",
                        (attempt.client, attempt.account, now),
                    )
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
        except (sqlite3.Error, DBError) as exc:
            # The login stands; only its record is lost.
            log.error("login limiter failed", extra={"file": str(self.path), "err": str(exc)})

    async def reserve(self, host: str | None, account: str) -> Attempt:
        """:meth:`reserve_sync` off the event loop, or in the shared storage."""
        if self.shared is None:
            return await asyncio.to_thread(self.reserve_sync, host, account)
        client = client_key(host)
        left, row_id = await self.shared.reserve(client, account, self.clock(), self.settings)
        _refuse_if_waiting(client, left)
        return Attempt(row_id, client, account)

    async def succeeded(self, attempt: Attempt) -> None:
        """:meth:`succeeded_sync` off the event loop, or in the shared storage."""
        if self.shared is None:
            await asyncio.to_thread(self.succeeded_sync, attempt)
            return
        try:
            await self.shared.succeeded(attempt.client, attempt.account, self.clock())
        except LimiterUnavailable as exc:  # the login stands; only its record is lost
            log.error("login limiter failed", extra={"err": str(exc)})

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def _refuse_if_waiting(client: str, left: float) -> None:
    if left > 0:
        raise TooManyAttempts(
            f"login from {client}: too many failed logins, try again in {math.ceil(left)} seconds",
            left,
        )
