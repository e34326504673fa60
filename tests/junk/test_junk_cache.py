"""The token counts an open junk.db keeps in memory (postel.junk.db.JunkDB.counts):
a message like the last ones costs no token lookups, and training, in this
process or another one, is seen at the next filing."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from postel.junk.db import JunkDB
from postel.junk.decide import Filing
from postel.junk.filter import JunkFilter, Settings
from postel.junk.reputation import Verified

SPAM = ["cheap", "pills", "casino", "winner", "bitcoin", "prize", "urgent", "loan", "offer"]
HAM = ["meeting", "tomorrow", "project", "review", "lunch", "budget", "draft", "agenda"]


def message(rng: random.Random, vocab: list[str], subject: str) -> bytes:
    body = " ".join(rng.choice(vocab) for _ in range(50))
    return f"From: x@sender.example\r\nSubject: {subject}\r\n\r\n{body}\r\n".encode()


def trained(tmp_path: Path) -> JunkFilter:
    jf = JunkFilter(tmp_path, Settings(), None)
    rng = random.Random(9)
    for _ in range(12):
        jf.train("u", message(rng, HAM, "project"), Verified(), spam=False)
        jf.train("u", message(rng, SPAM, "win"), Verified(), spam=True)
    return jf


def token_queries(jf: JunkFilter, account: str) -> list[str]:
    statements: list[str] = []
    with jf._db(account) as db:
        db.conn.set_trace_callback(statements.append)
    return statements


async def test_a_message_with_known_features_makes_no_token_lookups(tmp_path: Path) -> None:
    jf = trained(tmp_path)
    msg = message(random.Random(1), HAM, "agenda")
    first = await jf.file("u", msg, Verified())
    statements = token_queries(jf, "u")
    again = await jf.file("u", msg, Verified())
    assert again == first
    assert not [s for s in statements if "FROM token" in s], statements
    jf.close()


async def test_training_elsewhere_is_seen_at_the_next_filing(tmp_path: Path) -> None:
    worker = trained(tmp_path)  # an SMTP worker's filter
    main = JunkFilter(tmp_path, Settings(), None)  # the IMAP/webmail process's
    msg = message(random.Random(2), HAM, "agenda")
    before = await worker.file("u", msg, Verified())
    assert before.target == "inbox"
    rng = random.Random(3)
    for _ in range(40):  # the user now calls such mail junk
        main.train("u", message(rng, HAM, "agenda"), Verified(), spam=True)
    after = await worker.file("u", msg, Verified())
    assert before.score is not None and after.score is not None
    assert after.score > before.score + 0.3, (before, after)
    # And training through the same filter, too.
    for _ in range(40):
        worker.train("u", message(rng, HAM, "agenda"), Verified(), spam=False)
    last = await worker.file("u", msg, Verified())
    assert last.score is not None and last.score < after.score - 0.3, (after, last)
    worker.close()
    main.close()


def test_a_junk_db_of_the_first_schema_gets_its_generation(tmp_path: Path) -> None:
    from postel.db import open_db
    from postel.junk.db import FILE, MIGRATIONS, JunkDB

    old = open_db(tmp_path / FILE, MIGRATIONS[:1])  # made before the cache
    old.execute("INSERT INTO token (token, ham, spam) VALUES ('budget', 3, 0)")
    old.execute("UPDATE meta SET value = 3 WHERE key = 'ham_messages'")
    old.commit()
    old.close()
    db = JunkDB.open(tmp_path)
    assert db.totals() == (3, 0)
    assert db.counts(["budget", "pills"])["budget"].ham == 3
    generation = dict(db.conn.execute("SELECT key, value FROM meta").fetchall())["generation"]
    assert db.train("k", ["budget"], [], spam=False)
    assert db.totals() == (4, 0)
    assert db.counts(["budget"])["budget"].ham == 4
    after = dict(db.conn.execute("SELECT key, value FROM meta").fetchall())["generation"]
    assert after == generation + 1
    db.close()


async def test_a_filing_does_not_wait_for_the_recording_of_earlier_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The records of earlier filings are committed (and were synced) after
    # their 250; the next message's filing must not queue behind that commit.
    jf = trained(tmp_path)
    msg = message(random.Random(4), HAM, "agenda")
    filing = await jf.file("u", msg, Verified())
    committing = threading.Event()
    release = threading.Event()
    real = JunkDB.record_filings

    def slow_commit(db: JunkDB, filings: Sequence[tuple[str, Filing]], at: dt.datetime) -> None:
        committing.set()
        release.wait(10)
        real(db, filings, at)

    monkeypatch.setattr(JunkDB, "record_filings", slow_commit)
    recording = threading.Thread(
        target=jf.record_many, args=("u", [("k1", filing)], dt.datetime.now(dt.UTC))
    )
    recording.start()
    try:
        assert committing.wait(10)
        again = await asyncio.wait_for(jf.file("u", msg, Verified()), 5)
        assert again == filing
    finally:
        release.set()
        recording.join(10)
    assert jf.filing("u", "k1") == filing
    jf.close()


def test_filing_records_are_not_synced_but_training_is(tmp_path: Path) -> None:
    jf = trained(tmp_path)
    jf.record("u", "k", Filing("inbox", None, ()), dt.datetime.now(dt.UTC))
    with jf._db("u", records=True) as db:
        assert db.conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    with jf._db("u") as db:
        assert db.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    jf.close()
