"""Helpers of the PostgreSQL store's tests: a loop in a thread, a migrated pool,
waiting for sessions that wait for a lock."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import psycopg
from psycopg_pool import AsyncConnectionPool

from postel.pg.migrate import migrate
from postel.pg.pool import Conn, open_pool
from postel.pg.settings import PgSettings

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


def settings_for(pg_cluster: object, dbname: str, **kw: object) -> PgSettings:
    from pgcluster import Cluster

    assert isinstance(pg_cluster, Cluster)
    return PgSettings(
        dsn=pg_cluster.dsn(dbname, with_password=False),
        password=pg_cluster.password,
        **kw,  # type: ignore[arg-type]
    )


async def open_migrated(settings: PgSettings) -> AsyncConnectionPool[Conn]:
    pool = await open_pool(settings)
    async with pool.connection() as conn:
        await migrate(conn, where=settings.where)
    return pool


def run_at_once(runs: list[Callable[[], Any]]) -> list[Any]:
    """Each run in a thread (and event loop) of its own, released together."""
    start = threading.Barrier(len(runs))
    out: list[Any] = [None] * len(runs)
    errors: list[BaseException] = []

    def one(i: int) -> None:
        try:
            start.wait(10)
            out[i] = asyncio.run(runs[i]())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(runs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "a run did not end within 60 s"
    assert not errors, errors
    return out


def wait_for_lock_waits(
    conn: psycopg.Connection[tuple[object, ...]], count: int = 1, timeout: float = 30
) -> None:
    """Until *count* sessions of the test database wait for a lock (row or
    advisory), seen through *conn*; AssertionError after *timeout* seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'"
        ).fetchone()
        if row is not None and int(str(row[0])) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} sessions wait for a lock")
