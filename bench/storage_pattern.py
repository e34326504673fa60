"""The disk side of inbound delivery alone: is the sync sequence the limit?

Worker processes repeat the steps the delivery thread takes for a batch of
5 KB messages, without SMTP, parsing or logging, on a scratch directory:

- ``postel``: write each file to tmp/, fsync them concurrently (4 threads),
  then under an exclusive flock: BEGIN IMMEDIATE, one row per message,
  link into msg/, fsync msg/, COMMIT (WAL, synchronous=FULL); unlink tmp/.
- ``final``: write each file straight into msg/, fsync the files and msg/
  concurrently, then the flock and the rows (the reserved-id variant that
  was measured and not kept, bench/NOTES.md).
- ``postfix``: one fsync per message and nothing else, one process per
  client, as Postfix's cleanup does for its queue file.

``--busy`` adds a thread per worker that spins in Python for that share of
the time, as an event loop does, so that the delivery steps compete for the
GIL as they do in an SMTP worker.

Prints messages per second and, from /sys/block/<dev>/stat, device flushes
and writes per message.

    python bench/storage_pattern.py [--mode postel|final|postfix]
        [--procs 2] [--batch 3] [--seconds 4] [--busy 0.5] [--dev vda]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import fcntl
import multiprocessing
import os
import sqlite3
import tempfile
import threading
import time
from pathlib import Path

DATA = os.urandom(5000)
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY


def fsync_path(path: str, flags: int = os.O_RDONLY) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def spin(share: float) -> None:
    """Keep the GIL busy for *share* of the time, in slices of 0.2 ms."""
    if share <= 0:
        return

    def run() -> None:
        while True:
            t0 = time.perf_counter()
            while time.perf_counter() - t0 < 0.0002 * share:
                pass
            time.sleep(0.0002 * (1 - share))

    threading.Thread(target=run, daemon=True).start()


def batches(
    mode: str,
    root: str,
    idx: int,
    batch: int,
    seconds: float,
    busy: float,
    out: multiprocessing.Queue[int],
) -> None:
    spin(busy)
    pool = concurrent.futures.ThreadPoolExecutor(4)
    db = sqlite3.connect(f"{root}/index.db", isolation_level=None, timeout=30)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    lockfd = os.open(f"{root}/index.db-lock", os.O_RDWR | os.O_CREAT, 0o600)
    msgdir, tmp = f"{root}/msg", f"{root}/tmp"
    done = seq = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        names = []
        for _ in range(batch):
            seq += 1
            names.append(f"{idx}-{seq}")
            with open(f"{tmp if mode == 'postel' else msgdir}/{names[-1]}", "xb") as f:
                f.write(DATA)
        if mode == "postel":
            list(pool.map(fsync_path, [f"{tmp}/{n}" for n in names]))
        else:
            work = [(f"{msgdir}/{n}", os.O_RDONLY) for n in names] + [(msgdir, DIR_FLAGS)]
            list(pool.map(lambda w: fsync_path(*w), work))
        fcntl.flock(lockfd, fcntl.LOCK_EX)
        try:
            db.execute("BEGIN IMMEDIATE")
            for n in names:
                db.execute("INSERT INTO message (name) VALUES (?)", (n,))
                if mode == "postel":
                    os.link(f"{tmp}/{n}", f"{msgdir}/{n}")
            if mode == "postel":
                fsync_path(msgdir, DIR_FLAGS)
            db.execute("COMMIT")
        finally:
            fcntl.flock(lockfd, fcntl.LOCK_UN)
        if mode == "postel":
            for n in names:
                os.unlink(f"{tmp}/{n}")
        done += batch
    out.put(done)


def single(root: str, idx: int, seconds: float, out: multiprocessing.Queue[int]) -> None:
    done = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        done += 1
        fd = os.open(f"{root}/msg/{idx}-{done}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, DATA)
            os.fsync(fd)
        finally:
            os.close(fd)
    out.put(done)


def device_stat(dev: str) -> list[int]:
    return [int(x) for x in Path(f"/sys/block/{dev}/stat").read_text().split()]


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--mode", choices=["postel", "final", "postfix"], default="postel")
    ap.add_argument("--procs", type=int, default=2, help="worker processes (postfix: clients)")
    ap.add_argument("--batch", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--busy", type=float, default=0.0)
    ap.add_argument("--dev", default="vda", help="block device for the flush counters")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(
        prefix="storage-pattern-", dir=os.environ.get("TMPDIR")
    ) as root:
        for d in ("msg", "tmp"):
            os.mkdir(f"{root}/{d}")
        db = sqlite3.connect(f"{root}/index.db")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE message (id INTEGER PRIMARY KEY, name TEXT)")
        db.commit()
        db.close()
        out: multiprocessing.Queue[int] = multiprocessing.Queue()
        procs = [
            multiprocessing.Process(target=single, args=(root, i, args.seconds, out))
            if args.mode == "postfix"
            else multiprocessing.Process(
                target=batches,
                args=(args.mode, root, i, args.batch, args.seconds, args.busy, out),
            )
            for i in range(args.procs)
        ]
        before = device_stat(args.dev)
        for p in procs:
            p.start()
        total = sum(out.get() for _ in procs)
        for p in procs:
            p.join()
        after = device_stat(args.dev)
    delta = [b - a for a, b in zip(before, after, strict=True)]
    flushes = delta[15] if len(delta) > 15 else float("nan")
    print(
        f"{args.mode} procs={args.procs} batch={args.batch} busy={args.busy}: "
        f"{total / args.seconds:.0f} msg/s, {flushes / total:.2f} flushes/msg, "
        f"{delta[4] / total:.2f} writes/msg"
    )


if __name__ == "__main__":
    main()
