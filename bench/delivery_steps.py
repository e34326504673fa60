"""Where one message's storage time goes at 1 client: each sync step timed.

Repeats, one message at a time on a scratch directory of the data's file
system, the steps of a delivery without SMTP or parsing, in two orders,
alternating rounds between them:

- ``serial`` (the order before): write tmp file, fsync it, BEGIN IMMEDIATE,
  insert a row, link into msg/, fsync msg/, COMMIT (WAL, synchronous=FULL).
- ``concurrent`` (store/placing.py now): write tmp file, BEGIN, row, link,
  then the file's fsync in a second thread while COMMIT runs here; then
  fsync msg/ (the file's journal commit already carried its entry).
- ``concurrent, dir in thread``: the same, msg/'s fsync in the second
  thread right after the file's.

Prints the median of each step in microseconds and messages per second.

    python bench/delivery_steps.py [--messages 300] [--rounds 4] [--dir /work]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

DATA = os.urandom(5000)


def _fsync(path: str, flags: int = os.O_RDONLY) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _file_then_dir(path: str, directory: str) -> None:
    _fsync(path)
    _fsync(directory, os.O_RDONLY | os.O_DIRECTORY)


def _db(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("CREATE TABLE IF NOT EXISTS m (id INTEGER PRIMARY KEY, body TEXT)")
    return conn


def run(
    mode: str, root: Path, n: int, pool: concurrent.futures.ThreadPoolExecutor
) -> dict[str, list[float]]:
    conn = _db(root / "index.db")
    msg = root / "msg"
    msg.mkdir(exist_ok=True)
    tmp = root / "tmp"
    tmp.mkdir(exist_ok=True)
    steps: dict[str, list[float]] = {}

    def mark(name: str, t0: float) -> float:
        t = time.perf_counter()
        steps.setdefault(name, []).append((t - t0) * 1e6)
        return t

    for _ in range(n):
        start = t = time.perf_counter()
        src = tmp / os.urandom(8).hex()
        with open(src, "wb") as f:
            f.write(DATA)
            f.flush()
            if mode == "serial":
                t = mark("write", t)
                os.fsync(f.fileno())
                t = mark("fsync file", t)
        if mode != "serial":
            t = mark("write", t)
        conn.execute("BEGIN IMMEDIATE")
        cur = conn.execute("INSERT INTO m (body) VALUES (?)", ("x" * 400,))
        target = msg / str(cur.lastrowid)
        os.link(src, target)
        t = mark("row + link", t)
        if mode == "serial":
            _fsync(str(msg), os.O_RDONLY | os.O_DIRECTORY)
            t = mark("fsync dir", t)
            conn.execute("COMMIT")
            t = mark("commit", t)
        elif mode == "concurrent, dir in thread":
            fut = pool.submit(_file_then_dir, str(target), str(msg))
            conn.execute("COMMIT")
            t = mark("commit (file fsync running)", t)
            fut.result()
            t = mark("wait file + dir fsync", t)
        else:
            fut = pool.submit(_fsync, str(target))
            conn.execute("COMMIT")
            t = mark("commit (file fsync running)", t)
            fut.result()
            t = mark("wait file fsync", t)
            _fsync(str(msg), os.O_RDONLY | os.O_DIRECTORY)
            t = mark("fsync dir", t)
        src.unlink()
        mark("total", start)
    conn.close()
    return steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--messages", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    args = ap.parse_args()
    pool = concurrent.futures.ThreadPoolExecutor(2)
    modes = ["serial", "concurrent", "concurrent, dir in thread"]
    totals: dict[str, dict[str, list[float]]] = {m: {} for m in modes}
    with tempfile.TemporaryDirectory(dir=args.dir) as d:
        for r in range(args.rounds):
            for mode in modes[r % 3 :] + modes[: r % 3]:
                root = Path(d) / f"{mode.replace(' ', '_')}-{r}"
                root.mkdir()
                for k, v in run(mode, root, args.messages, pool).items():
                    totals[mode].setdefault(k, []).extend(v)
    print(f"load average: {os.getloadavg()}")
    for mode, steps in totals.items():
        total = statistics.median(steps["total"])
        mean = statistics.fmean(steps["total"])
        print(f"{mode}: {1e6 / mean:.0f} msg/s (mean total {mean:.0f} µs, median {total:.0f} µs)")
        for k, v in steps.items():
            if k != "total":
                p90 = sorted(v)[len(v) * 9 // 10]
                print(f"  {k:32s} median {statistics.median(v):7.0f} µs  p90 {p90:7.0f} µs")


if __name__ == "__main__":
    main()
