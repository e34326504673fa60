"""The junk filter's cost for a trained account on both backends: each
account's junk.db (SQLite) and PostgreSQL's junk tables (a throwaway cluster
on 127.0.0.1, tests/pgcluster.py).

One account on each is trained with the first 30 % of the corpus of
bench/junk_accuracy.py (as the user would: ham kept, spam moved to Junk);
then the classifier's part of filing (JunkFilter._signals, the body text
given as on delivery) runs over the later messages, the backends in turn,
--rounds times, each with a fresh filter (an empty feature cache). Reported
per message: this process's CPU time, the wall time, and on PostgreSQL the
server's CPU time. The scores must be the same on both.

    python bench/junk_pg.py [--rounds 2] [--every 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "pg"))

from junk_accuracy import corpus, fetch  # noqa: E402
from pghelpers import LoopThread, open_migrated  # noqa: E402

from pgcluster import running_cluster  # noqa: E402
from postel.junk.filter import JunkFilter, Prepared, Settings  # noqa: E402
from postel.junk.reputation import Verified  # noqa: E402
from postel.junk.sqlitedata import SQLiteJunkData  # noqa: E402
from postel.junk.store import JunkData  # noqa: E402
from postel.pg.accountstore import PgStore  # noqa: E402
from postel.pg.junkstore import PgJunkData  # noqa: E402
from postel.pg.pool import open_sync_pool  # noqa: E402
from postel.pg.settings import PgSettings  # noqa: E402
from postel.store.bodytext import body_text  # noqa: E402

ACCOUNT = "bench"
TRAIN_FRACTION = 0.3


def scores(data: JunkData, later: list[tuple[bytes, str]]) -> tuple[float, float, list[float]]:
    jf = JunkFilter(data, Settings(), None)
    out: list[float] = []
    cpu, wall = time.process_time(), time.monotonic()
    for message, text in later:
        s = jf._signals(ACCOUNT, Prepared(message, text), Verified(), 10)
        out.append(s.verdict.score if s.verdict is not None else -1.0)
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    jf.close()
    return cpu * 1000 / len(later), wall * 1000 / len(later), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--every", type=int, default=2, help="file every n-th later message")
    a = ap.parse_args()
    messages = corpus(fetch())
    first = int(len(messages) * TRAIN_FRACTION)
    later = [(m.data, body_text(m.data)) for m in messages[first :: a.every]]
    print(f"load average before: {os.getloadavg()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="junk-pg-") as tmp, running_cluster() as cluster:
        (Path(tmp) / ACCOUNT).mkdir()
        with cluster.admin() as conn:
            conn.execute("CREATE DATABASE junkbench OWNER postel_test")
        settings = PgSettings(
            dsn=cluster.dsn("junkbench", with_password=False), password=cluster.password
        )
        lt = LoopThread()

        async def migrated() -> None:
            pool = await open_migrated(settings)
            await PgStore(pool).create_account(ACCOUNT)
            await pool.close()

        lt.run(migrated())
        lt.stop()
        pool = open_sync_pool(settings, "junk")
        backends: dict[str, JunkData] = {
            "sqlite": SQLiteJunkData(Path(tmp)),
            "postgresql": PgJunkData(pool),
        }
        for name, data in backends.items():
            jf = JunkFilter(data, Settings(), None)
            t0 = time.monotonic()
            for m in messages[:first]:
                jf.train(ACCOUNT, m.data, Verified(), spam=m.spam)
            print(f"{name}: trained {first} messages in {time.monotonic() - t0:.1f} s", flush=True)
        seen: dict[str, list[float]] = {}
        for r in range(a.rounds):
            for name, data in backends.items():
                server = cluster.server_cpu()
                cpu, wall, got = scores(data, later)
                server_ms = (cluster.server_cpu() - server) * 1000 / len(later)
                seen[name] = got
                extra = f", server CPU {server_ms:.2f} ms" if name == "postgresql" else ""
                print(
                    f"round {r + 1} {name}: {len(later)} filings, CPU {cpu:.2f} ms, "
                    f"wall {wall:.2f} ms per message{extra}; load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
        pool.close()
        same = seen["sqlite"] == seen["postgresql"]
        print(f"the same scores on both backends: {same}")


if __name__ == "__main__":
    main()
