"""Connections to the PostgreSQL store: one pool per node, one connection for checks."""

from __future__ import annotations

import logging

import psycopg
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from postel.pg.errors import PgConnectError
from postel.pg.settings import PgSettings

log = logging.getLogger("postel.pg")

Conn = psycopg.AsyncConnection[tuple[object, ...]]
SyncConn = psycopg.Connection[tuple[object, ...]]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


async def connect(settings: PgSettings) -> Conn:
    """One connection (autocommit), for checks and for LISTEN."""
    try:
        return await psycopg.AsyncConnection.connect(
            settings.conninfo(),
            autocommit=True,
            connect_timeout=max(1, int(settings.connect_timeout)),
        )
    except psycopg.Error as exc:
        raise PgConnectError(f"PostgreSQL {settings.where}: {_first_line(exc)}") from None


async def open_pool(settings: PgSettings) -> AsyncConnectionPool[Conn]:
    """A pool of autocommit connections (transactions are explicit), opened and
    checked: the first connection is made before this returns."""
    pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
        settings.conninfo(),
        min_size=settings.pool_min,
        max_size=settings.pool_max,
        kwargs={"autocommit": True},
        open=False,
        name=settings.where,
    )
    try:
        await pool.open(wait=True, timeout=settings.connect_timeout)
    except Exception as exc:
        await pool.close()
        raise PgConnectError(f"PostgreSQL {settings.where}: {_first_line(exc)}") from None
    log.info("connected", extra={"db": settings.where, "pool_max": settings.pool_max})
    return pool


def open_sync_pool(settings: PgSettings, purpose: str) -> ConnectionPool[SyncConn]:
    """A synchronous pool of autocommit connections for code that runs in
    threads (the junk filter's data), opened and checked like open_pool."""
    pool: ConnectionPool[SyncConn] = ConnectionPool(
        settings.conninfo(),
        min_size=1,
        max_size=settings.pool_max,
        kwargs={"autocommit": True},
        open=False,
        name=f"{settings.where} {purpose}",
    )
    try:
        pool.open(wait=True, timeout=settings.connect_timeout)
    except Exception as exc:
        pool.close()
        raise PgConnectError(f"PostgreSQL {settings.where}: {_first_line(exc)}") from None
    return pool
