"""The threaded message list of one mailbox of 100,000 messages (issue 22 item 3).

Builds an account in a scratch data directory: 100,000 small messages in the
Inbox, delivered with AccountStore.deliver_many in batches (thread keys are
given at delivery, store/threads.py). About 40 % of them answer an earlier
message (In-Reply-To and References, "Re:" subject), most of those a recent
one, so conversations of 1 to a few dozen messages interleave as in a real
mailbox; one conversation of BIG messages runs through the whole mailbox.
Then, median and worst of REPEAT runs:

- the list page as the webmail loads it (postel.web.webmail.mailbox.load_page:
  50 threads plus the "older"/"newer" checks) at the newest page, a page at
  the middle (cursor) and the last page; the flat list_messages page for
  comparison;
- threading one message: threads.thread_for alone;
- the migration: opening the account as schema 2 left it (no thread keys)
  and threading the stored mail.

    python bench/list_bench.py [--messages 100000] [--repeat 15] [--dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from postel.datadir import DataDir  # noqa: E402
from postel.store.account import INDEX_DB, Delivery  # noqa: E402
from postel.store.store import Store  # noqa: E402
from postel.store.threads import THREAD_INDEXES, thread_for  # noqa: E402
from postel.web.webmail.mailbox import load_page  # noqa: E402

SEED = 22
BATCH = 500
REPLY_SHARE = 0.4
BIG = 2_000  # messages of the one long conversation


def make_message(i: int, subject: str, parent: str, refs: str) -> bytes:
    when = datetime(2021, 1, 1, tzinfo=UTC) + timedelta(minutes=26 * i)
    head = (
        f"From: Person <p{i % 997}@d{i % 89}.example>\r\nTo: me@bench.example\r\n"
        f"Subject: {subject}\r\nDate: {when.strftime('%a, %d %b %Y %H:%M:%S +0000')}\r\n"
        f"Message-ID: <{i}@bench.example>\r\n"
    )
    if parent:
        head += f"In-Reply-To: {parent}\r\nReferences: {refs}\r\n"
    return (head + f"Content-Type: text/plain\r\n\r\nmessage {i}\r\n").encode()


def timed(fn: object, repeat: int) -> tuple[float, float, int]:
    """(median ms, worst ms, result count) of *repeat* calls."""
    times, n = [], 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()  # type: ignore[operator]
        n = len(out[0] if isinstance(out, tuple) else out)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), max(times), n


def build(acc: object, root: Path, count: int) -> dict[str, float]:
    rng = random.Random(SEED)
    src = root / "src"
    src.mkdir()
    # id -> (subject, references) of each message, for replies to pick from.
    known: list[tuple[str, str]] = []
    big_every = max(1, count // BIG)
    t_deliver = 0.0
    for start in range(0, count, BATCH):
        batch = []
        for i in range(start, min(count, start + BATCH)):
            if i % big_every == 0 and i > 0:
                parent_i = (i // big_every - 1) * big_every
            elif known and rng.random() < REPLY_SHARE:
                parent_i = max(0, len(known) - 1 - int(rng.expovariate(1 / 200)))
            else:
                parent_i = -1
            if parent_i >= 0:
                subj, refs = known[parent_i]
                refs = (refs + f" <{parent_i}@bench.example>").strip()
                refs = " ".join(refs.split()[-10:])
                subject = subj if subj.startswith("Re: ") else "Re: " + subj
                data = make_message(i, subject, f"<{parent_i}@bench.example>", refs)
            else:
                subject = "the long one" if i == 0 else f"topic {i} {rng.randrange(10**6)}"
                refs = ""
                data = make_message(i, subject, "", "")
            known.append((subject, refs))
            path = src / str(i)
            path.write_bytes(data)
            batch.append(Delivery("Inbox", path, flags=["\\Seen"] if i % 3 else []))
        t0 = time.perf_counter()
        for r in acc.deliver_many(batch):  # type: ignore[attr-defined]
            assert not isinstance(r, Exception), r
        t_deliver += time.perf_counter() - t0
        for d in batch:
            os.unlink(d.source)
    return {"deliver_per_s": round(count / t_deliver)}


def run(root: Path, count: int, repeat: int) -> None:
    datadir = DataDir(root / "data")
    store = Store(datadir)
    acc = store.account("bench")
    results: dict[str, object] = {"messages": count, **build(acc, root, count)}
    conn = acc._conn
    conn.execute("ANALYZE")
    threads = conn.execute(
        "SELECT count(DISTINCT thread_id), max(n) FROM "
        "(SELECT thread_id, count(*) AS n FROM message GROUP BY thread_id)"
    ).fetchone()
    results["threads"] = int(threads[0])
    results["largest_thread"] = int(threads[1])
    top = acc.list_threads("Inbox", limit=1)[0].head.uid
    pages: dict[str, object] = {}

    def record(label: str, fn: object) -> None:
        med, worst, n = timed(fn, repeat)
        pages[label] = {"median_ms": round(med, 2), "max_ms": round(worst, 2), "rows": n}

    record("threads: newest page", lambda: load_page(acc, "Inbox", None, None))
    record("threads: page at the middle", lambda: load_page(acc, "Inbox", top // 2, None))
    record("threads: newer page from the middle", lambda: load_page(acc, "Inbox", None, top // 2))
    record("threads: last page", lambda: load_page(acc, "Inbox", 60, None))
    record("flat: newest page", lambda: acc.list_messages("Inbox", limit=50))
    record(
        "flat: page at the middle", lambda: acc.list_messages("Inbox", limit=50, cursor=top // 2)
    )
    results["list"] = pages

    # Threading one message (the lookups at delivery), on 2,000 of the stored ones.
    rows = conn.execute(
        "SELECT id, message_id, in_reply_to, subject, received FROM message "
        "ORDER BY id DESC LIMIT 2000"
    ).fetchall()
    t0 = time.perf_counter()
    for r in rows:
        thread_for(
            conn,
            msgid=r[0],
            message_id=r[1],
            in_reply_to=r[2],
            references=r[2],
            subject=r[3],
            received=datetime.fromisoformat(r[4]),
        )
    results["thread_for_us"] = round((time.perf_counter() - t0) / len(rows) * 1e6, 1)
    store.close()

    # The migration: the account as schema 2 left it.
    path = acc.dir / INDEX_DB
    c = sqlite3.connect(path)
    for index in (statement.split()[2] for statement in THREAD_INDEXES):
        c.execute(f"DROP INDEX {index}")
    c.execute("ALTER TABLE message DROP COLUMN thread_id")
    c.execute("ALTER TABLE message DROP COLUMN thread_subject")
    c.execute("PRAGMA user_version = 2")
    c.commit()
    c.execute("VACUUM")
    c.close()
    store = Store(datadir)
    t0 = time.perf_counter()
    acc = store.account("bench")
    results["migration_open_s"] = round(time.perf_counter() - t0, 2)
    after = acc._conn.execute("SELECT count(DISTINCT thread_id) FROM message").fetchone()[0]
    results["threads_after_migration"] = int(after)
    store.close()
    print(json.dumps(results, indent=2))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--dir", type=Path, default=None)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="listbench-", dir=args.dir))
    try:
        run(root, args.messages, args.repeat)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
