"""Full-text search of one account on 100,000 messages (issue 22 item 2).

Builds an account in a scratch data directory: messages made from a fixed
random vocabulary (Zipf-distributed words, ~120 words of body, some HTML,
some with attachments, dates over five years), delivered with
AccountStore.deliver_many in batches as the SMTP side does (files written
without fsync here: the disk is not what is measured). Then:

- delivery: messages per second, and the cost of the body text and the
  index row per message (body_text + the FTS5 insert, timed alone);
- index: size of index.db;
- search: the median and the worst of REPEAT runs of each query (first page,
  50 results, newest first), and a deep page by cursor;
- list: the first and a deep page of the mailbox (for comparison);
- upgrade: how long opening an account of schema 1 takes, how long until its
  messages are indexed in the background, and how long deliveries take meanwhile.

    python bench/search_bench.py [--messages 100000] [--repeat 15] [--dir DIR]
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
from postel.store.bodytext import body_text  # noqa: E402
from postel.store.store import Store  # noqa: E402

SEED = 22
VOCABULARY = 20_000
BATCH = 500
PEOPLE = 2_000


def words(rng: random.Random) -> list[str]:
    syll = ["ka", "lo", "mi", "ne", "ra", "to", "su", "vi", "de", "po", "an", "el", "or", "us"]
    out: set[str] = set()
    while len(out) < VOCABULARY:
        out.add("".join(rng.choice(syll) for _ in range(rng.randint(2, 4))))
    return sorted(out)


def zipf_picker(rng: random.Random, vocab: list[str]) -> list[float]:
    weights = [1.0 / (i + 1) for i in range(len(vocab))]
    total = sum(weights)
    acc, cum = 0.0, []
    for w in weights:
        acc += w / total
        cum.append(acc)
    return cum


def make_message(rng: random.Random, vocab: list[str], cum: list[float], i: int) -> bytes:
    def pick(n: int) -> str:
        return " ".join(vocab[min(len(vocab) - 1, _bisect(cum, rng.random()))] for _ in range(n))

    sender = f"person{rng.randrange(PEOPLE)}@domain{rng.randrange(200)}.example"
    when = datetime(2021, 1, 1, tzinfo=UTC) + timedelta(minutes=26 * i + rng.randrange(20))
    subject = pick(rng.randint(3, 8))
    body = pick(rng.randint(60, 180))
    head = (
        f"From: Person <{sender}>\r\nTo: me@bench.example\r\nSubject: {subject}\r\n"
        f"Date: {when.strftime('%a, %d %b %Y %H:%M:%S +0000')}\r\n"
        f"Message-ID: <{i}@bench.example>\r\nMIME-Version: 1.0\r\n"
    )
    if i % 10 == 0:  # with an attachment
        return (
            head + "Content-Type: multipart/mixed; boundary=BB\r\n\r\n"
            f"--BB\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
            "--BB\r\nContent-Type: application/pdf\r\n"
            "Content-Disposition: attachment; filename=a.pdf\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n" + "QUJD" * 200 + "\r\n--BB--\r\n"
        ).encode()
    if i % 4 == 0:  # HTML
        return (
            head + "Content-Type: text/html; charset=utf-8\r\n\r\n"
            f"<html><body><p>{body}</p></body></html>\r\n"
        ).encode()
    return (head + f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n").encode()


def _bisect(cum: list[float], x: float) -> int:
    lo, hi = 0, len(cum)
    while lo < hi:
        mid = (lo + hi) // 2
        if cum[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


def timed(fn: object, repeat: int) -> tuple[float, float, int]:
    """(median ms, worst ms, result count) of *repeat* calls."""
    times, n = [], 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        n = len(fn())  # type: ignore[operator]
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), max(times), n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--dir", type=Path, default=None)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="searchbench-", dir=args.dir))
    try:
        run(root, args.messages, args.repeat)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run(root: Path, count: int, repeat: int) -> None:
    rng = random.Random(SEED)
    vocab = words(rng)
    cum = zipf_picker(rng, vocab)
    datadir = DataDir(root / "data")
    store = Store(datadir)
    acc = store.account("bench")
    src = root / "src"
    src.mkdir()

    # Delivery in batches, as deliver_many is used by the SMTP side.
    t_deliver = 0.0
    t_text = 0.0
    sample = b""
    for start in range(0, count, BATCH):
        batch = []
        for i in range(start, min(count, start + BATCH)):
            data = make_message(rng, vocab, cum, i)
            if i == 7:
                sample = data
            path = src / str(i)
            path.write_bytes(data)
            batch.append(Delivery("Inbox", path, flags=["\\Seen"] if i % 3 else []))
        t0 = time.perf_counter()
        for r in acc.deliver_many(batch):
            assert not isinstance(r, Exception), r
        t_deliver += time.perf_counter() - t0
        for d in batch:
            os.unlink(d.source)
    # The added cost per message: its body text and its row in the index.
    t0 = time.perf_counter()
    for _ in range(2000):
        body_text(sample)
    t_text = (time.perf_counter() - t0) / 2000
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE f USING fts5(a, b, c, d)")
    text = body_text(sample)
    t0 = time.perf_counter()
    conn.execute("BEGIN")
    for i in range(2000):
        conn.execute(
            "INSERT INTO f (rowid, a, b, c, d) VALUES (?, ?, ?, ?, ?)",
            (i + 1, "subject words here", "Person <p@d.example>", "me@b.example", text),
        )
    conn.execute("COMMIT")
    t_insert = (time.perf_counter() - t0) / 2000
    acc._conn.execute("ANALYZE")
    index_size = (acc.dir / INDEX_DB).stat().st_size
    fts_pages = (
        acc._conn.execute(
            "SELECT sum(pgsize) FROM dbstat WHERE name LIKE 'message_fts%'"
        ).fetchone()[0]
        if _has_dbstat(acc._conn)
        else None
    )

    common = vocab[0]
    mid = vocab[200]
    rare = vocab[15_000]
    some = acc.list_messages("Inbox", limit=1, newest_first=True)[0]
    deep_cursor = some.msgid // 2
    sender_of_some = some.from_.split("<")[1].rstrip(">")
    queries = {
        "uncommon word (rank 15,000 of 20,000)": rare,
        "common word (in most messages)": common,
        "two words": f"{common} {mid}",
        "phrase": f'"{common} {common}"',
        "from:address": f"from:{sender_of_some}",
        "from:local part": f"from:{sender_of_some.split('@')[0]}",
        "subject:word": f"subject:{mid}",
        "has:attachment word": f"has:attachment {mid}",
        "before:date (no text)": "before:2022-01-01",
        "word after:date": f"{rare} after:2024-01-01",
        "word -word": f"{mid} -{common}",
        "prefix (3 letters)": vocab[500][:3] + "*",
    }
    results: dict[str, object] = {
        "messages": count,
        "deliver_per_s": round(count / t_deliver),
        "body_text_us": round(t_text * 1e6, 1),
        "fts_insert_us": round(t_insert * 1e6, 1),
        "index_db_mb": round(index_size / 1e6, 1),
        "fts_mb": round(fts_pages / 1e6, 1) if fts_pages else None,
        "search": {},
        "list": {},
    }
    search: dict[str, object] = {}
    for label, q in queries.items():
        med, worst, n = timed(lambda q=q: acc.search(q), repeat)
        search[label] = {
            "query": q,
            "median_ms": round(med, 2),
            "max_ms": round(worst, 2),
            "results": n,
        }
    med, worst, n = timed(lambda: acc.search(common, before=deep_cursor), repeat)
    search["common word, page at the middle (cursor)"] = {
        "query": common,
        "median_ms": round(med, 2),
        "max_ms": round(worst, 2),
        "results": n,
    }
    results["search"] = search
    lst: dict[str, object] = {}
    med, worst, n = timed(lambda: acc.list_messages("Inbox", limit=50), repeat)
    lst["first page"] = {"median_ms": round(med, 2), "max_ms": round(worst, 2), "results": n}
    med, worst, n = timed(
        lambda: acc.list_messages("Inbox", limit=50, cursor=some.uid // 2), repeat
    )
    lst["page at the middle"] = {
        "median_ms": round(med, 2),
        "max_ms": round(worst, 2),
        "results": n,
    }
    results["list"] = lst
    store.close()

    # Upgrade: the same account as an earlier release left it (schema 1).
    path = acc.dir / INDEX_DB
    c = sqlite3.connect(path)
    c.execute("DROP TRIGGER message_fts_delete")
    c.execute("DROP TABLE message_fts")
    c.execute("PRAGMA user_version = 1")
    c.commit()
    c.execute("VACUUM")
    c.close()
    store = Store(datadir)
    t0 = time.perf_counter()
    acc = store.account("bench")
    results["upgrade_open_s"] = round(time.perf_counter() - t0, 2)
    # Meanwhile the account is usable: a delivery waits at most one chunk.
    waits = []
    while not acc.search_complete:
        data = make_message(rng, vocab, cum, count + len(waits))
        t1 = time.perf_counter()
        acc.deliver_bytes("Inbox", data)
        waits.append((time.perf_counter() - t1) * 1000)
        time.sleep(0.2)
    results["upgrade_indexed_s"] = round(time.perf_counter() - t0, 1)
    results["delivery_during_upgrade_ms"] = {
        "count": len(waits),
        "median": round(statistics.median(waits), 1) if waits else None,
        "max": round(max(waits), 1) if waits else None,
    }
    assert acc.search(rare), "upgrade did not index"
    store.close()
    print(json.dumps(results, indent=2))


def _has_dbstat(conn: sqlite3.Connection) -> bool:
    try:
        conn.execute("SELECT 1 FROM dbstat LIMIT 1")
    except sqlite3.OperationalError:
        return False
    return True


if __name__ == "__main__":
    main()
