"""The outgoing queue's entry store: SQLite (SQLiteQueueEntries) against
PostgreSQL (PgQueueEntries), side by side, alternating rounds.

Each round adds N messages of 5 KB (one recipient each, 20 domains), as the
SMTP server does before its 250, then drains them as the runner does:
claim_due (10 domains at a time), and per message begin_attempt,
message_file and finish. One caller, so the figures are per-operation
latency, not throughput under concurrency. Both durable (PostgreSQL's default
fsync and synchronous_commit, a private cluster on 127.0.0.1).

Also measured: one trivial query from a worker thread through the
synchronous pool PgQueueEntries uses, against the same through an async pool
on an event loop thread (run_coroutine_threadsafe, as postel.pg.syncstore
bridges), to show what the bridge would cost.

    PYTHONPATH=src .venv/bin/python bench/pg_queue.py [--messages 300] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "pg"))

from pghelpers import open_migrated  # noqa: E402

from pgcluster import running_cluster  # noqa: E402
from postel.datadir import DataDir  # noqa: E402
from postel.pg.pool import open_pool  # noqa: E402
from postel.pg.queue import PgQueueEntries, open_queue_pool  # noqa: E402
from postel.pg.settings import PgSettings  # noqa: E402
from postel.queue import QueueEntries, SQLiteQueueEntries  # noqa: E402


def _message(n: int) -> bytes:
    body = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 85)[:5000]
    return (
        f"From: alice@example.org\r\nTo: x@d{n % 20}.test\r\nSubject: message {n}\r\n\r\n{body}\r\n"
    ).encode()


def _round(entries: QueueEntries, n: int) -> tuple[float, float, float]:
    """(add seconds, drain seconds, client CPU seconds)."""
    import datetime as dt

    datas = [_message(i) for i in range(n)]
    cpu, start = time.process_time(), time.monotonic()
    for i, data in enumerate(datas):
        entries.add("alice", "alice@example.org", [f"x{i}@d{i % 20}.test"], data)
    added = time.monotonic()
    now = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    drained = 0
    while claimed := entries.claim_due(now, max_domains=10):
        for es in claimed.values():
            for e in es:
                entries.begin_attempt([e.id])
                path = entries.message_file(e.msg.id)
                assert path is not None
                entries.finish([e.id], [])
                drained += 1
    assert drained == n
    end = time.monotonic()
    return added - start, end - added, time.process_time() - cpu


def _bridge(settings: PgSettings, calls: int) -> tuple[float, float]:
    """(sync pool, loop bridge) microseconds per SELECT 1 from a worker thread."""
    pool = open_queue_pool(settings)
    loop = asyncio.new_event_loop()
    t = threading.Thread(target=loop.run_forever, daemon=True)
    t.start()
    apool = asyncio.run_coroutine_threadsafe(open_pool(settings), loop).result()

    async def one() -> None:
        async with apool.connection() as conn:
            await conn.execute("SELECT 1")

    try:
        start = time.monotonic()
        for _ in range(calls):
            with pool.connection() as conn:
                conn.execute("SELECT 1")
        sync = time.monotonic() - start
        start = time.monotonic()
        for _ in range(calls):
            asyncio.run_coroutine_threadsafe(one(), loop).result()
        bridged = time.monotonic() - start
    finally:
        asyncio.run_coroutine_threadsafe(apool.close(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        t.join()
        pool.close()
    return sync / calls * 1e6, bridged / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    n = args.messages
    print(f"load average before: {os.getloadavg()}")
    with running_cluster(durable=True) as cluster:
        with cluster.admin() as conn:
            for r in range(args.rounds):
                conn.execute(f"CREATE DATABASE bench{r} OWNER postel_test")
        for r in range(args.rounds):
            with tempfile.TemporaryDirectory(prefix="postel-bench-") as d:
                sq = SQLiteQueueEntries(DataDir(Path(d) / "data"))
                add, drain, cpu = _round(sq, n)
                sq.close()
            print(
                f"round {r} sqlite:     add {n / add:6.1f} msg/s, drain {n / drain:6.1f} msg/s,"
                f" client CPU {cpu / n * 1000:5.2f} ms/msg"
            )
            settings = PgSettings(
                dsn=cluster.dsn(f"bench{r}", with_password=False), password=cluster.password
            )
            asyncio.run(_migrate(settings))
            with tempfile.TemporaryDirectory(prefix="postel-bench-") as d:
                pg = PgQueueEntries(settings, Path(d) / "spool", node="bench")
                server = cluster.server_cpu()
                add, drain, cpu = _round(pg, n)
                server = cluster.server_cpu() - server
                pg.close()
            print(
                f"round {r} postgresql: add {n / add:6.1f} msg/s, drain {n / drain:6.1f} msg/s,"
                f" client CPU {cpu / n * 1000:5.2f} ms/msg, server CPU"
                f" {server / n * 1000:5.2f} ms/msg"
            )
            sync, bridged = _bridge(settings, 500)
            print(
                f"round {r} SELECT 1 from a thread: sync pool {sync:6.0f} us,"
                f" loop bridge {bridged:6.0f} us"
            )
    print(f"load average after: {os.getloadavg()}")


async def _migrate(settings: PgSettings) -> None:
    pool = await open_migrated(settings)
    await pool.close()


if __name__ == "__main__":
    main()
