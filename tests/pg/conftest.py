"""Fixtures of the PostgreSQL store's tests: the test cluster (tests/pgcluster.py),
an event loop in a thread of its own (the pool lives there, as in the server),
a migrated store, and MailStore on both backends for the contract tests."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from psycopg_pool import AsyncConnectionPool

from pgcluster import pg_cluster, pg_database, pg_dsn
from postel.datadir import DataDir
from postel.imapserver.storeapi import AccountMailStore, MailStore
from postel.pg.accountstore import PgStore
from postel.pg.migrate import migrate
from postel.pg.pool import Conn, open_pool
from postel.pg.settings import PgSettings
from postel.pg.syncstore import PgMailStore
from postel.store.store import Store

__all__ = ["pg_cluster", "pg_database", "pg_dsn"]

T = TypeVar("T")


class LoopThread:
    """An asyncio loop running in a daemon thread; run() waits for a coroutine."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[object, object, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def loop_thread() -> Iterator[LoopThread]:
    lt = LoopThread()
    yield lt
    lt.stop()


def settings_for(pg_cluster: object, dbname: str, **kw: object) -> PgSettings:
    from pgcluster import Cluster

    assert isinstance(pg_cluster, Cluster)
    return PgSettings(
        dsn=pg_cluster.dsn(dbname, with_password=False),
        password=pg_cluster.password,
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
def pg_settings(pg_cluster: object, pg_database: str) -> PgSettings:
    return settings_for(pg_cluster, pg_database)


async def open_migrated(settings: PgSettings) -> AsyncConnectionPool[Conn]:
    pool = await open_pool(settings)
    async with pool.connection() as conn:
        await migrate(conn, where=settings.where)
    return pool


@pytest.fixture
def pg_store(loop_thread: LoopThread, pg_settings: PgSettings) -> Iterator[PgStore]:
    pool = loop_thread.run(open_migrated(pg_settings))
    yield PgStore(pool)
    loop_thread.run(pool.close())


@pytest.fixture(params=["sqlite", "postgresql"])
def mailstore(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MailStore]:
    """The account "alice" as IMAP sees it, on each backend."""
    if request.param == "sqlite":
        store = Store(DataDir(tmp_path / "data"))
        yield AccountMailStore(store.account("alice"))
        store.close()
        return
    lt: LoopThread = request.getfixturevalue("loop_thread")
    pg: PgStore = request.getfixturevalue("pg_store")
    account = lt.run(pg.create_account("alice"))
    yield PgMailStore(account, lt.loop, tmp_path / "bodies")
