"""One synchronous connection to the PostgreSQL store, for the commands that
work through the whole database at once (migrate-store, verifydata)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from postel.pg.errors import PgConnectError
from postel.pg.settings import PgSettings

SyncConn = psycopg.Connection[tuple[object, ...]]


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextmanager
def sync_connect(settings: PgSettings) -> Iterator[SyncConn]:
    """An autocommit connection (transactions are explicit), closed after use."""
    try:
        conn: SyncConn = psycopg.connect(
            settings.conninfo(),
            autocommit=True,
            connect_timeout=max(1, int(settings.connect_timeout)),
        )
    except psycopg.Error as exc:
        raise PgConnectError(f"PostgreSQL {settings.where}: {first_line(exc)}") from None
    try:
        yield conn
    finally:
        conn.close()


def migrate_now(settings: PgSettings) -> int:
    """Make or migrate the schema forward (as `postel config migrate-db`); the
    version reached."""
    from postel.pg.check import migrate_store

    return asyncio.run(migrate_store(settings))[1]
