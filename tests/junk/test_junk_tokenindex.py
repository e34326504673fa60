"""An account's token table read into a process's memory (postel.junk.tokenindex,
postel.junk.cache): the features of the next messages are found there, not in
junk.db, within a bounded memory; a training in another process is seen at
the next filing."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import postel
from postel.junk import cache
from postel.junk.filter import JunkFilter, Settings
from postel.junk.reputation import Verified
from postel.junk.tokenindex import TokenIndex

SPAM = ["cheap", "pills", "casino", "winner", "bitcoin", "prize", "urgent", "loan", "offer"]
HAM = ["meeting", "tomorrow", "project", "review", "lunch", "budget", "draft", "agenda"]


def message(rng: random.Random, vocab: list[str], subject: str, extra: str = "") -> bytes:
    body = " ".join(rng.choice(vocab) for _ in range(50)) + " " + extra
    return f"From: x@sender.example\r\nSubject: {subject}\r\n\r\n{body}\r\n".encode()


def trained(tmp_path: Path) -> JunkFilter:
    jf = JunkFilter(tmp_path, Settings(), None)
    rng = random.Random(9)
    for _ in range(12):
        jf.train("u", message(rng, HAM, "project"), Verified(), spam=False)
        jf.train("u", message(rng, SPAM, "win"), Verified(), spam=True)
    return jf


def test_the_index_finds_the_keys_it_holds() -> None:
    # Keys sharing their low bits (the same first slot), negative ones, 0.
    held = [(-5, 1, 0), (3, 0, 2), (2**62, 4, 4), (3 + 2**40, 7, 1), (0, 2, 2), (-(2**63), 1, 1)]
    held += [(1000 + 2**20 * i, i, i + 1) for i in range(200)]  # grown several times
    index = TokenIndex.build(iter(held), 2**12)
    assert index is not None and len(index) == len(held)
    assert index.slots == 512
    wanted = dict.fromkeys([k for k, _h, _s in held] + [4, 3 + 2**41, 1000 + 2**20 * 200], "f")
    assert sorted(index.rows(wanted)) == sorted(held)
    assert index.rows({4: "a", 2**20: "b"}) == []
    assert TokenIndex.build(iter(held), 256) is None  # more slots than allowed
    assert TokenIndex.build([(1, 2**31, 0)], 256) is None  # a count that does not fit


async def test_new_features_are_not_looked_up_in_junk_db(tmp_path: Path) -> None:
    jf = trained(tmp_path)
    first = await jf.file("u", message(random.Random(1), HAM, "agenda"), Verified())
    assert first.score is not None
    statements: list[str] = []
    with jf._db("u") as db:
        db.conn.set_trace_callback(statements.append)
    # Words this process never looked up: found in memory, not in junk.db.
    other = message(random.Random(2), SPAM, "prize", "unseen words here")
    filed = await jf.file("u", other, Verified())
    assert [s for s in statements if "FROM token" in s] == []
    fresh = JunkFilter(tmp_path, Settings(), None)
    monkey, interval = cache.MAX_INDEXED, cache.REINDEX_INTERVAL
    try:
        cache.MAX_INDEXED = 8  # too small: looked up in junk.db as before
        cache.REINDEX_INTERVAL = 0.0
        assert await fresh.file("u", other, Verified()) == filed
        with fresh._db("u") as db:
            assert not db._cache.indexed
            scans: list[str] = []
            db.conn.set_trace_callback(scans.append)
        # Not read again at the next filings: it would not fit either.
        nearby = message(random.Random(5), HAM, "project", "other unseen words")
        await fresh.file("u", nearby, Verified())
        assert [s for s in scans if "ORDER BY key" in s] == []
        assert [s for s in scans if "FROM token" in s] != []
        # The table read that stopped early keeps no old snapshot open: a
        # training through another connection is seen.
        for i in range(30):
            jf.train("u", message(random.Random(i), HAM, f"prize {i}"), Verified(), spam=False)
        again = await fresh.file("u", other, Verified())
        newest = JunkFilter(tmp_path, Settings(), None)
        assert again == await newest.file("u", other, Verified()) != filed
        newest.close()
    finally:
        cache.MAX_INDEXED, cache.REINDEX_INTERVAL = monkey, interval
    fresh.close()
    jf.close()


def test_the_largest_index_makes_room_for_another_account(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    jf = trained(tmp_path)
    (tmp_path / "v").mkdir()
    rng = random.Random(3)
    for _ in range(12):
        jf.train("v", message(rng, HAM, "lunch"), Verified(), spam=False)
        jf.train("v", message(rng, SPAM, "loan"), Verified(), spam=True)
    asyncio.run(jf.file("u", message(rng, HAM, "x"), Verified()))
    with jf._db("u") as db:
        assert db._cache.indexed
        size = db._cache._index_size
    monkeypatch.setattr(cache, "MAX_INDEXED", 2 * size - 1)  # room for one of the two
    asyncio.run(jf.file("v", message(rng, HAM, "y"), Verified()))
    with jf._db("v") as db:
        assert db._cache.indexed
    with jf._db("u") as db:
        assert not db._cache.indexed
    assert cache._indexed[0] <= 2 * size - 1
    jf.close()


TRAIN = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from postel.junk.filter import JunkFilter, Settings
    from postel.junk.reputation import Verified
    jf = JunkFilter(Path(sys.argv[1]), Settings(), None)
    for path in sorted(Path(sys.argv[2]).iterdir()):
        jf.train("u", path.read_bytes(), Verified(), spam=True)
    jf.close()
    """
)


async def test_training_in_another_process_is_seen_at_the_next_filing(tmp_path: Path) -> None:
    worker = trained(tmp_path)  # an SMTP worker's filter, holding the table in memory
    msg = message(random.Random(2), HAM, "agenda")
    before = await worker.file("u", msg, Verified())
    with worker._db("u") as db:
        assert db._cache.indexed
    # The user now calls such mail junk, through another process (IMAP).
    moved = tmp_path.parent / (tmp_path.name + "-moved")
    moved.mkdir()
    rng = random.Random(4)
    for i in range(40):
        (moved / f"{i:02}").write_bytes(message(rng, HAM, "agenda"))
    src = str(Path(postel.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": src}
    subprocess.run(
        [sys.executable, "-c", TRAIN, str(tmp_path), str(moved)], env=env, check=True, timeout=60
    )
    after = await worker.file("u", msg, Verified())
    fresh = JunkFilter(tmp_path, Settings(), None)
    assert after == await fresh.file("u", msg, Verified())
    assert after.score is not None and before.score is not None
    assert after.score > before.score + 0.3, (before, after)
    fresh.close()
    worker.close()
