"""The junk filter's data on both backends (postel.junk.store.JunkData): each
account's junk.db, and PostgreSQL's tables shared by the nodes. The same
behaviour on both: idempotent training that follows the user's latest
verdict, reputation counts, filing records, training through one node seen
at the next filing of another, and a filter trained by the user's moves
filing the next similar message in Junk."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pghelpers import LoopThread, open_migrated

from postel.junk.decide import Filing
from postel.junk.filter import JunkFilter, Settings, message_key
from postel.junk.reputation import Verified
from postel.junk.sqlitedata import SQLiteJunkData
from postel.junk.store import JunkData
from postel.pg.accountstore import PgStore
from postel.pg.settings import PgSettings

SPAM = ["cheap", "pills", "casino", "winner", "bitcoin", "prize", "urgent", "loan", "offer"]
HAM = ["meeting", "tomorrow", "project", "review", "lunch", "budget", "draft", "agenda"]

# A factory of JunkData over the same data: each call is another node (or
# process) with its own connections and caches.
Nodes = Callable[[], JunkData]


async def with_alice(settings: PgSettings) -> None:
    """The store migrated, with the account alice."""
    pool = await open_migrated(settings)
    try:
        await PgStore(pool).create_account("alice")
    finally:
        await pool.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def nodes(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Nodes]:
    opened: list[JunkData] = []
    closers: list[Callable[[], None]] = []
    if request.param == "sqlite":
        (tmp_path / "accounts" / "alice").mkdir(parents=True)

        def node() -> JunkData:
            data = SQLiteJunkData(tmp_path / "accounts")
            opened.append(data)
            return data

    else:
        from postel.pg.junkstore import PgJunkData
        from postel.pg.pool import open_sync_pool

        lt: LoopThread = request.getfixturevalue("loop_thread")
        settings: PgSettings = request.getfixturevalue("pg_settings")

        lt.run(with_alice(settings))

        def node() -> JunkData:
            pool = open_sync_pool(settings, name="junk", max_size=4)
            closers.append(pool.close)
            data = PgJunkData(pool)
            opened.append(data)
            return data

    yield node
    for data in opened:
        data.close()
    for close in closers:
        close()


def message(rng: random.Random, vocab: list[str], subject: str) -> bytes:
    body = " ".join(rng.choice(vocab) for _ in range(60))
    return f"From: x@sender.example\r\nSubject: {subject}\r\n\r\n{body}\r\n".encode()


def test_training_is_idempotent_and_follows_the_latest_verdict(nodes: Nodes) -> None:
    data = nodes()
    with data.account("alice") as acc:
        assert acc.totals() == (0, 0)
        assert acc.trained_as("m1") is None
        assert acc.train("m1", ["cheap", "cheap pills", "s:win"], ["dkim:spam.example"], spam=True)
        assert not acc.train("m1", ["cheap", "cheap pills", "s:win"], [], spam=True)
        assert acc.totals() == (0, 1)
        assert acc.trained_as("m1") is True
        counts = acc.counts(["cheap", "cheap pills", "never"])
        assert {f: (c.ham, c.spam) for f, c in counts.items()} == {
            "cheap": (0, 1),
            "cheap pills": (0, 1),
        }
        # Moved out of Junk: untrained as spam, trained as ham.
        assert acc.train("m1", ["cheap", "cheap pills", "s:win"], [], spam=False)
        assert acc.totals() == (1, 0)
        assert {f: (c.ham, c.spam) for f, c in acc.counts(["cheap"]).items()} == {"cheap": (1, 0)}
        # The identities of the first verdict were untrained with it.
        assert {i: (c.ham, c.spam) for i, c in acc.reputation(["dkim:spam.example"]).items()} in (
            {"dkim:spam.example": (0, 0)},
            {},
        )
        assert acc.untrain("m1", ["cheap", "cheap pills", "s:win"])
        assert not acc.untrain("m1", ["cheap"])
        assert acc.totals() == (0, 0)
        assert acc.trained_as("m1") is None


def test_reputation_counts_the_verdicts_on_identities(nodes: Nodes) -> None:
    data = nodes()
    with data.account("alice") as acc:
        for i in range(3):
            acc.train(f"s{i}", ["x"], ["dmarc:bad.example", "ip:192.0.2.0/24"], spam=True)
        acc.train("h1", ["y"], ["dmarc:good.example"], spam=False)
        rep = acc.reputation(["dmarc:bad.example", "dmarc:good.example", "dmarc:none.example"])
    assert {i: (c.ham, c.spam) for i, c in rep.items()} == {
        "dmarc:bad.example": (0, 3),
        "dmarc:good.example": (1, 0),
    }


def test_filing_records_keep_the_latest_filing_of_a_message(nodes: Nodes) -> None:
    data = nodes()
    at = dt.datetime(2026, 12, 6, 9, 0, tzinfo=dt.UTC)
    first = Filing("junk", 0.97, ("junk score 0.970", "cheap pills (0.99)"))
    second = Filing("inbox", None, ())
    with data.account("alice", records=True) as acc:
        acc.record_filings([("k1", first), ("k2", second)], at)
    with data.account("alice") as acc:
        assert acc.filing("k1") == first
        assert acc.filing("k2") == second
        assert acc.filing("k3") is None
    with data.account("alice", records=True) as acc:
        acc.record_filings([("k1", second)], at)
    with data.account("alice") as acc:
        assert acc.filing("k1") == second
    assert data.has("alice")


def test_training_through_one_node_is_seen_at_the_next_filing_of_another(nodes: Nodes) -> None:
    one, other = JunkFilter(nodes(), Settings(), None), JunkFilter(nodes(), Settings(), None)
    rng = random.Random(9)
    for _ in range(12):
        one.train("alice", message(rng, HAM, "project"), Verified(), spam=False)
        one.train("alice", message(rng, SPAM, "win"), Verified(), spam=True)
    msg = message(random.Random(2), HAM, "agenda")
    before = asyncio.run(other.file("alice", msg, Verified()))
    assert before.target == "inbox" and before.score is not None
    for _ in range(40):  # the user now calls such mail junk, through the first node
        one.train("alice", message(rng, HAM, "agenda"), Verified(), spam=True)
    after = asyncio.run(other.file("alice", msg, Verified()))
    assert after.score is not None and after.score > before.score + 0.3, (before, after)


def test_twenty_spam_moved_to_junk_file_the_next_similar_one_in_junk(nodes: Nodes) -> None:
    jf = JunkFilter(nodes(), Settings(), None)
    rng = random.Random(5)
    spam_next = message(rng, SPAM, "you are a winner")
    ham_next = message(rng, HAM, "project review")
    untrained = asyncio.run(jf.file("alice", spam_next, Verified()))
    assert untrained.target == "inbox" and "not enough training yet" in untrained.reasons
    for _ in range(20):
        jf.train("alice", message(rng, HAM, "project"), Verified(), spam=False)  # kept
        jf.train("alice", message(rng, SPAM, "winner"), Verified(), spam=True)  # moved to Junk
    filed = asyncio.run(jf.file("alice", spam_next, Verified()))
    assert filed.target == "junk" and filed.score is not None and filed.score >= 0.9, filed
    kept = asyncio.run(jf.file("alice", ham_next, Verified()))
    assert kept.target == "inbox" and kept.score is not None and kept.score < 0.5, kept
    # Recorded and read back as the webmail shows why.
    key = message_key(spam_next)
    jf.record("alice", key, filed, dt.datetime.now(dt.UTC))
    assert jf.filing("alice", key) == filed
    jf.close()


def test_postgresql_keeps_the_newest_filing_records_of_an_account(
    loop_thread: LoopThread, pg_settings: PgSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from postel.pg import junkstore
    from postel.pg.pool import open_sync_pool

    loop_thread.run(with_alice(pg_settings))
    monkeypatch.setattr(junkstore, "MAX_FILED", 5)
    monkeypatch.setattr(junkstore, "TRIM_EVERY", 1)
    pool = open_sync_pool(pg_settings, name="junk", max_size=4)
    try:
        data = junkstore.PgJunkData(pool)
        at = dt.datetime(2026, 12, 6, 9, 0, tzinfo=dt.UTC)
        with data.account("alice", records=True) as acc:
            for i in range(12):
                acc.record_filings([(f"k{i}", Filing("inbox", float(i), ()))], at)
        with data.account("alice") as acc:
            kept = [i for i in range(12) if acc.filing(f"k{i}") is not None]
    finally:
        pool.close()
    assert kept == [7, 8, 9, 10, 11]


def in_memory(jf: JunkFilter, account: str) -> bool:
    """Whether this node holds the account's token table in memory."""
    with jf.data.account(account) as acc:
        return bool(acc._cache.indexed)  # type: ignore[attr-defined]


@pytest.mark.parametrize("interval", [0.0, 3600.0])
def test_a_node_files_from_the_token_table_in_memory_and_sees_training_elsewhere(
    nodes: Nodes, monkeypatch: pytest.MonkeyPatch, interval: float
) -> None:
    from postel.junk import cache
    from postel.pg import junkstore

    # interval: how soon a node reads the table again after a training.
    monkeypatch.setattr(cache, "REINDEX_INTERVAL", interval)
    monkeypatch.setattr(junkstore, "SCAN_PAGE", 7)  # PostgreSQL's table read in many pages
    one, other = JunkFilter(nodes(), Settings(), None), JunkFilter(nodes(), Settings(), None)
    rng = random.Random(9)
    for _ in range(12):
        one.train("alice", message(rng, HAM, "project"), Verified(), spam=False)
        one.train("alice", message(rng, SPAM, "win"), Verified(), spam=True)
    msg = message(random.Random(2), HAM, "agenda")
    before = asyncio.run(other.file("alice", msg, Verified()))
    assert in_memory(other, "alice")
    assert before == asyncio.run(
        JunkFilter(nodes(), Settings(), None).file("alice", msg, Verified())
    )
    for _ in range(40):  # the user now calls such mail junk, through the first node
        one.train("alice", message(rng, HAM, "agenda"), Verified(), spam=True)
    after = asyncio.run(other.file("alice", msg, Verified()))
    # The same filing as a node that never filed before: the training is seen
    # at once, read again into memory or (within the interval) looked up.
    fresh = asyncio.run(JunkFilter(nodes(), Settings(), None).file("alice", msg, Verified()))
    assert after == fresh
    assert after.score is not None and before.score is not None
    assert after.score > before.score + 0.3, (before, after)
    assert in_memory(other, "alice") == (interval == 0.0)
