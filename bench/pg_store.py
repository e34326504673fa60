"""Local delivery into one account: the SQLite store against the PostgreSQL
store (postel.pg), side by side, alternating rounds.

Both durable: SQLite in WAL with synchronous=FULL and fsynced files, PostgreSQL
15 with its default fsync and synchronous_commit (a private cluster under /tmp
on 127.0.0.1, tests/pgcluster.py). Each round delivers N messages of 5 KB from
CONCURRENCY callers at once (threads for SQLite, whose batcher groups them;
tasks over a pool of CONCURRENCY connections for PostgreSQL). Reported: rate,
CPU of this process per message, and for PostgreSQL the CPU of its server
processes per message (from /proc), and the load average.

    PYTHONPATH=src .venv/bin/python bench/pg_store.py [--messages 400] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "pg"))

from pghelpers import open_migrated  # noqa: E402

from pgcluster import Cluster, running_cluster  # noqa: E402
from postel.datadir import DataDir  # noqa: E402
from postel.pg.accountstore import PgStore  # noqa: E402
from postel.pg.settings import PgSettings  # noqa: E402
from postel.store.store import Store  # noqa: E402

CONCURRENCY = 8


def _message(n: int) -> bytes:
    body = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 85)[:5000]
    return (
        f"From: Bob <bob@example.org>\r\nTo: alice@example.com\r\nSubject: message {n}\r\n"
        f"Message-ID: <{n}.{time.time_ns()}@example.org>\r\n\r\n{body}\r\n"
    ).encode()


def sqlite_round(n: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="postel-bench-") as d:
        store = Store(DataDir(Path(d) / "data"))
        account = store.account("alice")
        files = []
        for i in range(n):
            path = Path(d) / f"m{i}.eml"
            path.write_bytes(_message(i))
            files.append(path)
        cpu, start = time.process_time(), time.monotonic()
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            list(pool.map(lambda p: account.deliver("Inbox", p), files))
        wall, cpu = time.monotonic() - start, time.process_time() - cpu
        store.close()
    return wall, cpu


async def pg_round(
    cluster: Cluster, dbname: str, n: int, accounts: int
) -> tuple[float, float, float]:
    settings = PgSettings(
        dsn=cluster.dsn(dbname, with_password=False),
        password=cluster.password,
        pool_min=CONCURRENCY,
        pool_max=CONCURRENCY,
    )
    pool = await open_migrated(settings)
    try:
        store = PgStore(pool)
        names = [f"user{i}" for i in range(accounts)]
        for name in names:
            await store.create_account(name)
        datas = [_message(i) for i in range(n)]
        sem = asyncio.Semaphore(CONCURRENCY)

        async def one(i: int, data: bytes) -> None:
            async with sem:
                await store.deliver(names[i % accounts], "Inbox", data)

        server, cpu, start = cluster.server_cpu(), time.process_time(), time.monotonic()
        await asyncio.gather(*(one(i, d) for i, d in enumerate(datas)))
        wall, cpu = time.monotonic() - start, time.process_time() - cpu
        server = cluster.server_cpu() - server
    finally:
        await pool.close()
    return wall, cpu, server


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--accounts", type=int, default=1, help="PostgreSQL: spread over this many accounts"
    )
    args = parser.parse_args()
    n = args.messages
    print(f"load average before: {os.getloadavg()}")
    with running_cluster(durable=True) as cluster:
        with cluster.admin() as conn:
            for r in range(args.rounds):
                conn.execute(f"CREATE DATABASE bench{r} OWNER postel_test")
        for r in range(args.rounds):
            wall, cpu = sqlite_round(n)
            print(
                f"round {r} sqlite:     {n / wall:7.1f} msg/s, client CPU "
                f"{cpu / n * 1000:5.2f} ms/msg"
            )
            wall, cpu, server = asyncio.run(pg_round(cluster, f"bench{r}", n, args.accounts))
            print(
                f"round {r} postgresql ({args.accounts} accounts): {n / wall:7.1f} msg/s, "
                f"client CPU {cpu / n * 1000:5.2f} ms/msg, "
                f"server CPU {server / n * 1000:5.2f} ms/msg"
            )
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
