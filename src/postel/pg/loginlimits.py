"""The login limiter's counts in PostgreSQL, shared by the nodes
(postel.loginlimit.LimitStorage): a password guesser spread over the nodes is
throttled as one on a single node would be.

The rows and rules are auth.db's (postel.loginlimit.limiter): each attempt is
a row written before its password is checked, in the transaction that counted
the failures it was decided on. The count and the write of every attempt run
under one transaction advisory lock (LOGIN_LIMIT_LOCK), as SQLite's BEGIN
IMMEDIATE serializes them on one node: concurrent guesses on several nodes
cannot all pass the count. As auth.db's limiter does (synchronous = NORMAL),
these transactions do not wait for their commit to reach the disk
(synchronous_commit off): a crash of the database server may forget the last
attempts, never leaves them half written.
"""

from __future__ import annotations

import logging

import psycopg
from psycopg_pool import AsyncConnectionPool

from postel.loginlimit.errors import LimiterUnavailable
from postel.loginlimit.policy import Count, Settings, wait
from postel.pg.migrate import LOGIN_LIMIT_LOCK
from postel.pg.pool import Conn
from postel.pg.rows import col_int

log = logging.getLogger("postel.pg")

PRUNE_EVERY = 100  # reservations of one node between two prunings
MOST_COUNTED = 64  # failures beyond the free ones that still change the delay
_NO_FLUSH_WAIT = "SET LOCAL synchronous_commit = off"

_COUNTS = """
WITH ca AS (SELECT at FROM login_failure
            WHERE client = %(client)s AND account = %(account)s AND at > %(since)s
            ORDER BY at DESC LIMIT %(most_ca)s),
     c AS (SELECT at FROM login_failure WHERE client = %(client)s AND at > %(since)s
           ORDER BY at DESC LIMIT %(most_c)s),
     a AS (SELECT at FROM login_failure WHERE account = %(account)s AND at > %(since)s
           ORDER BY at DESC LIMIT %(most_a)s)
SELECT (SELECT count(*) FROM ca), (SELECT max(at) FROM ca),
       (SELECT count(*) FROM c), (SELECT max(at) FROM c),
       (SELECT count(*) FROM a), (SELECT max(at) FROM a),
       EXISTS (SELECT 1 FROM login_trusted WHERE client = %(client)s
               AND account = %(account)s AND at > %(trusted_since)s)
"""


def _count(n: object, latest: object, free: int) -> Count:
    return Count(col_int(n), float(latest) if isinstance(latest, float) else 0.0, free)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class PgLoginLimits:
    """The nodes' failed logins in the PostgreSQL store; *where* names it in errors."""

    def __init__(self, pool: AsyncConnectionPool[Conn], where: str) -> None:
        self.pool = pool
        self.where = where
        self._reserved = 0

    async def _counts(
        self, conn: Conn, client: str, account: str, now: float, s: Settings
    ) -> list[Count]:
        # Counted only as far as the delay can grow (as in auth.db), all three
        # keys and the trust in one round trip.
        cur = await conn.execute(
            _COUNTS,
            {
                "client": client,
                "account": account,
                "since": now - s.window,
                "trusted_since": now - s.trusted_for,
                "most_ca": s.free_per_client_account + MOST_COUNTED,
                "most_c": s.free_per_client + MOST_COUNTED,
                "most_a": s.free_per_account + MOST_COUNTED,
            },
        )
        row = await cur.fetchone()
        assert row is not None
        out = [
            _count(row[0], row[1], s.free_per_client_account),
            _count(row[2], row[3], s.free_per_client),
        ]
        if not row[6]:  # not trusted for the account: its count from all clients applies
            out.append(_count(row[4], row[5], s.free_per_account))
        return out

    async def _prune(self, conn: Conn, now: float, s: Settings) -> None:
        await conn.execute("DELETE FROM login_failure WHERE at <= %s", (now - s.window,))
        await conn.execute("DELETE FROM login_trusted WHERE at <= %s", (now - s.trusted_for,))
        await conn.execute(
            "DELETE FROM login_failure WHERE id <= "
            "(SELECT id FROM login_failure ORDER BY id DESC LIMIT 1 OFFSET %s)",
            (s.max_records,),
        )

    async def reserve(
        self, client: str, account: str, now: float, settings: Settings
    ) -> tuple[float, int]:
        try:
            async with self.pool.connection() as conn, conn.transaction():
                await conn.execute(
                    f"{_NO_FLUSH_WAIT}; SELECT pg_advisory_xact_lock({LOGIN_LIMIT_LOCK})"
                )
                left = wait(await self._counts(conn, client, account, now, settings), settings, now)
                if left > 0:
                    return left, 0
                cur = await conn.execute(
                    "INSERT INTO login_failure (client, account, at) VALUES (%s, %s, %s) "
                    "RETURNING id",
                    (client, account, now),
                )
                row = await cur.fetchone()
                assert row is not None
                self._reserved += 1
                if self._reserved % PRUNE_EVERY == 1:
                    await self._prune(conn, now, settings)
                return 0.0, col_int(row[0])
        except psycopg.Error as exc:  # psycopg_pool.PoolTimeout too
            log.error("login limiter failed", extra={"db": self.where, "err": _first_line(exc)})
            raise LimiterUnavailable(
                f"login limiter in PostgreSQL {self.where}: {_first_line(exc)}", 1.0
            ) from None

    async def succeeded(self, client: str, account: str, now: float) -> None:
        try:
            async with self.pool.connection() as conn, conn.transaction():
                await conn.execute(_NO_FLUSH_WAIT)
                await conn.execute(
                    "DELETE FROM login_failure WHERE client = %s AND account = %s",
                    (client, account),
                )
                await conn.execute(
                    "INSERT INTO login_trusted (client, account, at) VALUES (%s, %s, %s) "
                    "ON CONFLICT (client, account) DO UPDATE SET at = excluded.at",
                    (client, account, now),
                )
        except psycopg.Error as exc:
            raise LimiterUnavailable(
                f"login limiter in PostgreSQL {self.where}: {_first_line(exc)}", 1.0
            ) from None
