"""A DSN for an account over its quota: dropped with a log
line, never bounced or queued again (no loop); on the SQLite store and
queue, and on the PostgreSQL store and queue (the runner is the same; the
DSN goes through the PostgreSQL store's delivery and its quota check)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
from queue_env import MESSAGE, Clock, FakeDeliverer, perm, write_config

from pgcluster import pg_cluster, pg_database
from postel.config import Config, load_config
from postel.pg.nodeparts import PgAccounts
from postel.queue import OutcomeRecorder, QueueEntries, QueueRunner, SQLiteQueueEntries
from postel.store.store import Store
from quotabackends import open_accounts

__all__ = ["pg_cluster", "pg_database"]

QUOTA = 6000  # alice's
FILLER = b"Subject: filler\r\n\r\n" + b"x" * (QUOTA - 100) + b"\r\n"


@dataclass
class Full:
    cfg: Config
    store: Store | PgAccounts
    entries: QueueEntries
    runner: QueueRunner

    def inbox(self, account: str) -> int:
        return len(list(self.store.account(account).list_messages("Inbox")))


@pytest.fixture(params=["sqlite", "postgresql"])
async def full(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Full]:
    """The queue with alice's account all but full, on each backend."""
    cfg = load_config(write_config(tmp_path / "config"))
    alice = cfg.domains.accounts["alice"]
    cfg.domains.accounts["alice"] = alice.model_copy(update={"quota": QUOTA})
    cfg.datadir.ensure()
    clock = Clock()
    async with AsyncExitStack() as stack:
        store = await open_accounts(request, cfg, tmp_path, stack)
        entries: QueueEntries
        if request.param == "sqlite":
            entries = SQLiteQueueEntries(cfg.datadir, now=clock)
        else:
            from pg.pghelpers import settings_for
            from postel.pg.queue import PgQueueEntries

            settings = settings_for(
                request.getfixturevalue("pg_cluster"), request.getfixturevalue("pg_database")
            )
            entries = await asyncio.to_thread(
                PgQueueEntries, settings, tmp_path / "spool", node="a", now=clock
            )
        stack.callback(entries.close)
        await asyncio.to_thread(store.account("alice").deliver_bytes, "Inbox", FILLER)
        deliverer = FakeDeliverer(decide=perm)
        runner = QueueRunner(
            cfg,
            entries,
            deliverer,
            OutcomeRecorder(entries, None, store),
            store,
            now=clock,
            rand=lambda: 0.5,
        )
        stack.push_async_callback(runner.stop, 1)
        yield Full(cfg, store, entries, runner)


async def test_dsn_to_an_account_over_quota_is_dropped(
    full: Full, caplog: pytest.LogCaptureFixture
) -> None:
    await asyncio.to_thread(
        full.entries.add, "alice", "alice@example.org", ["bob@remote.test"], MESSAGE
    )
    with caplog.at_level(logging.WARNING, logger="postel.queue"):
        await full.runner.run_due()
    assert await asyncio.to_thread(full.entries.entries) == []  # nothing queued again
    assert await asyncio.to_thread(full.inbox, "alice") == 1  # the filler only
    assert "dsn dropped: recipient account over quota" in caplog.text
    assert "cannot send dsn" not in caplog.text


async def test_dsn_with_room_is_delivered(full: Full, caplog: pytest.LogCaptureFixture) -> None:
    """The same bounce to bob (no quota) is delivered: the drop above is the quota's."""
    await asyncio.to_thread(full.entries.add, "bob", "bob@example.org", ["x@remote.test"], MESSAGE)
    with caplog.at_level(logging.INFO, logger="postel.queue"):
        await full.runner.run_due()
    assert await asyncio.to_thread(full.entries.entries) == []
    assert await asyncio.to_thread(full.inbox, "bob") == 1
    assert "dsn delivered locally" in caplog.text
