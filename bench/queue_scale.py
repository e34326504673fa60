"""The outgoing queue's own cost per message with 1k, 10k and 100k entries waiting.

No network and no SMTP: the entry store (postel.queue.SQLiteQueueEntries) is
filled directly, one transaction per batch of rows, with entries spread over
--domains recipient domains (one recipient per message). Each round then does
what the runner's loop does around deliveries, with a deliverer that succeeds
at once: claim_due (up to --max-domains domains), begin_attempt for the
claimed entries, finish with all of them done (one call each, as the runner's
group commits make them), then next_due, until --per-round messages are done.

Two kinds of waiting entries (--mode):
  deferred  the N entries wait for a retry an hour away (a destination is
            down); each round adds --per-round fresh due messages (untimed)
            and times their delivery past the backlog.
  due       the N entries are all due; each round delivers --per-round of
            them and puts as many back (untimed), so the queue keeps its size.

    python bench/queue_scale.py --mode deferred --sizes 1000,10000,100000

The figure is microseconds per message (median of the rounds), per size; it
must not grow with the queue.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import tempfile
import time
from pathlib import Path

from postel.datadir import DataDir
from postel.queue import SQLiteQueueEntries
from postel.queue.model import iso

T0 = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
BATCH = 5000


def fill(
    entries: SQLiteQueueEntries, start: int, count: int, domains: int, due: dt.datetime = T0
) -> None:
    """Messages start..start+count-1, one entry each, due at T0 (+ their number
    in microseconds, so that the order is stable); no message files (a
    succeeding fake deliverer never reads them; removal tolerates them missing)."""
    conn = entries._db.conn  # the bench fills the rows directly, not through add()
    for lo in range(start, start + count, BATCH):
        hi = min(lo + BATCH, start + count)
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO message (id, created, sender_account, mail_from, size, requiretls,"
            " tls_required_no, is_tlsrpt, is_dmarc_report, smtputf8, eightbit)"
            " VALUES (?, ?, 'alice', 'alice@example.org', 1000, 0, 0, 0, 0, 0, 0)",
            ((i, iso(T0)) for i in range(lo, hi)),
        )
        conn.executemany(
            "INSERT INTO entry (id, msg_id, rcpt, domain, created, max_attempts, next_attempt)"
            " VALUES (?, ?, ?, ?, ?, 10, ?)",
            (
                (
                    i,
                    i,
                    f"user{i}@d{i % domains}.sink.test",
                    f"d{i % domains}.sink.test",
                    iso(T0),
                    iso(due + dt.timedelta(microseconds=i)),
                )
                for i in range(lo, hi)
            ),
        )
        conn.execute("COMMIT")


def one_round(
    entries: SQLiteQueueEntries, now: dt.datetime, per_round: int, max_domains: int
) -> tuple[int, float]:
    """(messages, seconds) for claiming, beginning and finishing at least *per_round*."""
    done = 0
    t = time.perf_counter()
    while done < per_round:
        claimed = entries.claim_due(now, max_domains=max_domains)
        if not claimed:
            break
        ids = [e.id for group in claimed.values() for e in group]
        entries.begin_attempt(ids)
        entries.finish(ids, [])
        entries.next_due()
        done += len(ids)
    return done, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--domains", type=int, default=1000)
    ap.add_argument("--max-domains", type=int, default=10)
    ap.add_argument("--mode", choices=("deferred", "due"), default="deferred")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--per-round", type=int, default=1000)
    args = ap.parse_args()
    now = T0 + dt.timedelta(days=1)
    backlog_due = now + dt.timedelta(hours=1) if args.mode == "deferred" else T0
    print(f"mode={args.mode} load average at start: {os.getloadavg()}")
    for size in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory(prefix="postel-qscale-") as tmp:
            entries = SQLiteQueueEntries(DataDir(Path(tmp)))
            try:
                t = time.perf_counter()
                fill(entries, 1, size, args.domains, backlog_due)
                fill_s = time.perf_counter() - t
                next_id = size + 1
                per_msg: list[float] = []
                for _ in range(args.rounds):
                    if args.mode == "deferred":  # fresh mail, due now (untimed)
                        fill(entries, next_id, args.per_round, args.domains, T0)
                        next_id += args.per_round
                    n, secs = one_round(entries, now, args.per_round, args.max_domains)
                    per_msg.append(secs / n * 1e6)
                    if args.mode == "due":  # keep the size (untimed)
                        fill(entries, next_id, n, args.domains, T0 + dt.timedelta(minutes=1))
                        next_id += n
                rounds = " ".join(f"{x:.0f}" for x in per_msg)
                print(
                    f"size={size} domains={args.domains} fill={fill_s:.1f}s"
                    f" us/msg median={statistics.median(per_msg):.0f} rounds=[{rounds}]"
                    f" load={os.getloadavg()[0]:.2f}",
                    flush=True,
                )
            finally:
                entries.close()


if __name__ == "__main__":
    main()
