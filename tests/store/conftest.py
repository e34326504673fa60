"""Fixtures of the store tests: a data dir, its Store and the account "alice"."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pgcluster import pg_cluster, pg_database
from postel.datadir import DataDir
from postel.store.account import AccountStore
from postel.store.api import AccountMail
from postel.store.store import Store

__all__ = ["pg_cluster", "pg_database"]


@pytest.fixture
def datadir(tmp_path: Path) -> DataDir:
    return DataDir(tmp_path / "data")


@pytest.fixture
def store(datadir: DataDir) -> Store:
    s = Store(datadir)
    yield s  # type: ignore[misc]
    s.close()


@pytest.fixture
def acc(store: Store) -> AccountStore:
    return store.account("alice")


@pytest.fixture(params=["sqlite", "postgresql"])
def account(request: pytest.FixtureRequest, store: Store, tmp_path: Path) -> Iterator[AccountMail]:
    """The account "alice" as the webmail sees it (postel.store.api.AccountMail),
    on each backend: behaviour tests that take this run on both."""
    if request.param == "sqlite":
        yield store.account("alice")
        return
    from pg.pghelpers import LoopThread, open_migrated, settings_for
    from postel.pg.accountstore import PgStore
    from postel.pg.nodeparts import PgAccounts

    settings = settings_for(
        request.getfixturevalue("pg_cluster"), request.getfixturevalue("pg_database")
    )
    lt = LoopThread()
    pool = lt.run(open_migrated(settings))
    try:
        yield PgAccounts(PgStore(pool), lt.loop, tmp_path / "bodies").account("alice")
    finally:
        lt.run(pool.close())
        lt.stop()
