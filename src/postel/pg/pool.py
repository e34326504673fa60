"""Connections to the PostgreSQL store: one pool per node, one connection for checks."""

from __future__ import annotations

import contextlib
import logging
import time
import weakref
from collections.abc import AsyncIterator, Iterator

import psycopg
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from postel.pg.errors import PgConnectError, PgStoreUnavailable
from postel.pg.settings import PgSettings

log = logging.getLogger("postel.pg")

Conn = psycopg.AsyncConnection[tuple[object, ...]]
SyncConn = psycopg.Connection[tuple[object, ...]]
# A node's pool as the other packages name it (psycopg is imported here only).
Pool = AsyncConnectionPool[Conn]


def first_line(exc: BaseException) -> str:
    """The first line of a psycopg error (libpq adds hints on further lines)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextlib.contextmanager
def reachable(where: str) -> Iterator[None]:
    """A connection that cannot be had or that broke (psycopg's
    OperationalError, psycopg_pool's PoolTimeout) as PgStoreUnavailable, one
    line starting with *where*."""
    try:
        yield
    except psycopg.OperationalError as exc:
        raise PgStoreUnavailable(f"{where}: {first_line(exc)}") from None


# A pooled connection handed back less than this many seconds ago is handed
# out again unchecked: it worked a moment ago, and under load (connections
# handed back and out all the time) a check would add a round trip to every
# delivery. One idle for longer is checked first.
CHECK_IDLE = 1.0


class _IdleCheck:
    """The pool's check and reset callbacks: when each connection was handed
    back, and a check only for those idle longer than CHECK_IDLE."""

    def __init__(self) -> None:
        self._returned: weakref.WeakKeyDictionary[Conn, float] = weakref.WeakKeyDictionary()

    async def returned(self, conn: Conn) -> None:
        self._returned[conn] = time.monotonic()

    async def check(self, conn: Conn) -> None:
        last = self._returned.get(conn)
        if last is not None and time.monotonic() - last < CHECK_IDLE:
            return
        await AsyncConnectionPool.check_connection(conn)


def connection_options(settings: PgSettings) -> dict[str, object]:
    """Options of the pools' connections: autocommit (transactions are
    explicit) and libpq's connect_timeout, so that a database host that does
    not answer (a partition) fails a connection attempt in bounded time."""
    return {"autocommit": True, "connect_timeout": max(1, int(settings.connect_timeout))}


async def connect(settings: PgSettings) -> Conn:
    """One connection (autocommit), for checks and for LISTEN."""
    try:
        return await psycopg.AsyncConnection.connect(
            settings.conninfo(),
            autocommit=True,
            connect_timeout=max(1, int(settings.connect_timeout)),
        )
    except psycopg.Error as exc:
        raise PgConnectError(f"PostgreSQL {settings.where}: {first_line(exc)}") from None


async def open_pool(settings: PgSettings) -> AsyncConnectionPool[Conn]:
    """A pool of autocommit connections (transactions are explicit), opened and
    checked: the first connection is made before this returns."""
    idle = _IdleCheck()
    pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
        settings.conninfo(),
        min_size=settings.pool_min,
        max_size=settings.pool_max,
        kwargs=connection_options(settings),
        open=False,
        name=settings.where,
        # A caller waits this long for a connection, then fails (SMTP: 451)
        # instead of psycopg_pool's default 30 s while the database is down.
        timeout=settings.connect_timeout,
        # A connection idle for a while is checked (one round trip) before it
        # is handed out: after the database restarted, the pooled ones are
        # broken, and each would otherwise fail one delivery or IMAP command.
        check=idle.check,
        reset=idle.returned,
        # While the database is down the pool retries a connection with a
        # doubling delay; it gives up after this long, and the next caller's
        # request connects at once: once the database is back, a node gets
        # connections within about connect_timeout, not after a delay as long
        # as the outage (psycopg_pool's default gives up only after 5 min).
        reconnect_timeout=settings.connect_timeout,
    )
    try:
        await pool.open(wait=True, timeout=settings.connect_timeout)
    except Exception as exc:
        await pool.close()
        raise PgConnectError(f"PostgreSQL {settings.where}: {first_line(exc)}") from None
    log.info("connected", extra={"db": settings.where, "pool_max": settings.pool_max})
    return pool


def open_sync_pool(settings: PgSettings, *, name: str, max_size: int) -> ConnectionPool[SyncConn]:
    """A synchronous pool of autocommit connections, for parts called from
    threads and from synchronous code (the reports' data, the junk filter's),
    with open_pool's bounded waits while the database is down."""
    pool: ConnectionPool[SyncConn] = ConnectionPool(
        settings.conninfo(),
        min_size=1,
        max_size=max(1, max_size),
        kwargs=connection_options(settings),
        open=False,
        name=f"{settings.where} {name}",
        timeout=settings.connect_timeout,
        reconnect_timeout=settings.connect_timeout,
    )
    try:
        pool.open(wait=True, timeout=settings.connect_timeout)
    except Exception as exc:
        pool.close()
        raise PgConnectError(f"PostgreSQL {settings.where}: {first_line(exc)}") from None
    return pool


@contextlib.asynccontextmanager
async def try_session_lock(pool: AsyncConnectionPool[Conn], key: int) -> AsyncIterator[bool]:
    """Hold the session advisory lock *key* on a connection of *pool* for
    the block, if no other session holds it: yields whether it was taken
    (one node at a time runs the work it guards)."""
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT pg_try_advisory_lock(%s)", (key,))
        got = await cur.fetchone()
        if got is None or not got[0]:
            yield False
            return
        try:
            yield True
        finally:
            try:
                await conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
            except psycopg.Error:  # a broken connection ended its session and the lock
                pass
