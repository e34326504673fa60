"""Fixtures of the PostgreSQL store's tests: the test cluster (tests/pgcluster.py),
an event loop in a thread of its own (the pool lives there, as in the server),
a migrated store, and MailStore on both backends for the contract tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pghelpers import LoopThread, open_migrated, settings_for
from psycopg_pool import AsyncConnectionPool
from s3server import S3Server, s3_server

from pgcluster import pg_cluster, pg_database, pg_dsn
from postel.datadir import DataDir
from postel.imapserver.storeapi import AccountMailStore, MailStore
from postel.pg.accountstore import PgStore
from postel.pg.objectstore import ObjectStore
from postel.pg.pool import Conn
from postel.pg.settings import PgSettings
from postel.pg.syncstore import PgMailStore
from postel.store.store import Store

__all__ = ["pg_cluster", "pg_database", "pg_dsn"]


@pytest.fixture
def loop_thread() -> Iterator[LoopThread]:
    lt = LoopThread()
    yield lt
    lt.stop()


@pytest.fixture
def pg_settings(pg_cluster: object, pg_database: str) -> PgSettings:
    return settings_for(pg_cluster, pg_database)


@pytest.fixture
def pg_store(loop_thread: LoopThread, pg_settings: PgSettings) -> Iterator[PgStore]:
    pool = loop_thread.run(open_migrated(pg_settings))
    yield PgStore(pool)
    loop_thread.run(pool.close())


@pytest.fixture
def pool(loop_thread: LoopThread, pg_settings: PgSettings) -> Iterator[AsyncConnectionPool[Conn]]:
    """A pool on a migrated database."""
    p = loop_thread.run(open_migrated(pg_settings))
    yield p
    loop_thread.run(p.close())


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    """moto's S3 server on loopback, one per test module."""
    with s3_server() as server:
        yield server


@pytest.fixture
def objects(s3: S3Server) -> Iterator[ObjectStore]:
    """A new empty bucket."""
    store = s3.new_bucket()
    yield store
    store.close()


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
