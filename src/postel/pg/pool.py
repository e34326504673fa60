"""Connections to the PostgreSQL store: one pool per node, one connection for checks."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import psycopg
from psycopg_pool import AsyncConnectionPool

from postel.pg.errors import PgConnectError, PgStoreUnavailable
from postel.pg.settings import PgSettings

log = logging.getLogger("postel.pg")

Conn = psycopg.AsyncConnection[tuple[object, ...]]


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
        # A connection is checked (one round trip) before it is handed out:
        # after the database restarted, the pooled ones are broken, and each
        # would otherwise fail one delivery or IMAP command.
        check=AsyncConnectionPool.check_connection,
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
