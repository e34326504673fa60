"""The account store with quotas on each backend, for the protocol tests that
run the same quota behaviour on SQLite and on PostgreSQL (a fresh database of
tests/pgcluster.py, migrated)."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from postel.config import Config
from postel.pg.nodeparts import PgAccounts
from postel.store.store import Store


async def open_accounts(
    request: pytest.FixtureRequest, cfg: Config, tmp_path: Path, stack: AsyncExitStack
) -> Store | PgAccounts:
    """The store of *cfg*'s accounts with their quotas on the backend
    ``request.param`` ("sqlite" or "postgresql"), closed by *stack*."""
    store: Store | PgAccounts
    if request.param == "sqlite":
        store = Store(cfg.datadir, quota=cfg.account_quota)
    else:
        from pg.pghelpers import open_migrated, settings_for
        from postel.pg.accountstore import PgStore

        settings = settings_for(
            request.getfixturevalue("pg_cluster"), request.getfixturevalue("pg_database")
        )
        pool = await open_migrated(settings)
        stack.push_async_callback(pool.close)
        store = PgAccounts(
            PgStore(pool, quota=cfg.account_quota), asyncio.get_running_loop(), tmp_path / "bodies"
        )
    stack.callback(store.close)
    return store
