"""The runner's per-loop queries do not read more rows as the queue grows:
claim_due reads only the claimed domains' entries, next_due stops at the
first unclaimed entry."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
from queue_env import T0, Clock

from postel.datadir import DataDir
from postel.db import open_db
from postel.queue import SQLiteQueueEntries
from postel.queue import entries as entries_mod
from postel.queue.schema import MIGRATIONS

MSG = b"Subject: x\r\n\r\nx\r\n"


def sqlite_work(entries: SQLiteQueueEntries, call: Callable[[], object]) -> int:
    """SQLite virtual machine steps (in hundreds) that *call* costs."""
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0

    conn = entries._db.conn  # the store's own connection: its work is what is measured
    conn.set_progress_handler(count, 100)
    try:
        call()
    finally:
        conn.set_progress_handler(None, 0)
    return steps[0]


def claim_work(root: Path, waiting: int, *, deferred: bool) -> int:
    """The work of one claim and the next_due that follows it, with *waiting*
    entries (one domain each) due now or an hour away, and one fresh entry."""
    clock = Clock(T0 + dt.timedelta(hours=1) if deferred else T0)
    entries = SQLiteQueueEntries(DataDir(root), now=clock)
    try:
        rcpts = [f"u{i}@d{i}.test" for i in range(waiting)]
        entries.add("alice", "alice@example.org", rcpts, MSG)
        clock.t = T0
        entries.add("alice", "alice@example.org", ["fresh@new.test"], MSG)

        def one_loop() -> None:
            claimed = entries.claim_due(T0, max_domains=1)
            assert sum(len(es) for es in claimed.values()) == 1
            entries.next_due()

        return sqlite_work(entries, one_loop)
    finally:
        entries.close()


def test_claim_work_does_not_grow_with_due_entries(tmp_path: Path) -> None:
    small = claim_work(tmp_path / "small", 100, deferred=False)
    large = claim_work(tmp_path / "large", 2000, deferred=False)
    assert large <= 2 * small + 5, (small, large)


def test_claim_work_does_not_grow_with_deferred_entries(tmp_path: Path) -> None:
    small = claim_work(tmp_path / "small", 100, deferred=True)
    large = claim_work(tmp_path / "large", 2000, deferred=True)
    assert large <= 2 * small + 5, (small, large)


def test_claim_takes_a_domain_at_most_claim_limit_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A domain's entries beyond the limit are claimed by the next claim."""
    monkeypatch.setattr(entries_mod, "CLAIM_LIMIT", 3)
    store = SQLiteQueueEntries(DataDir(tmp_path), now=Clock())
    try:
        ids = store.add("alice", "alice@example.org", [f"u{i}@x.test" for i in range(5)], MSG)
        first = store.claim_due(T0, max_domains=5)
        assert [e.id for e in first["x.test"]] == ids[:3]
        assert [e.id for e in store.claim_due(T0, max_domains=5)["x.test"]] == ids[3:]
        assert store.claim_due(T0, max_domains=5) == {}
    finally:
        store.close()


def test_a_queue_of_the_first_schema_gets_the_domain_index(tmp_path: Path) -> None:
    """index.db written before the domain index existed migrates on open, and
    its entries are claimed."""
    datadir = DataDir(tmp_path)
    datadir.queue_dir.mkdir(parents=True)
    old = open_db(datadir.queue_db, MIGRATIONS[:1])
    old.executescript(
        "INSERT INTO message (id, created, sender_account, mail_from, size, requiretls,"
        " tls_required_no, is_tlsrpt, is_dmarc_report, smtputf8, eightbit)"
        " VALUES (1, '2024-05-01T12:00:00+00:00', 'alice', 'a@example.org', 1, 0, 0, 0, 0, 0, 0);"
        "INSERT INTO entry (msg_id, rcpt, domain, created, max_attempts, next_attempt)"
        " VALUES (1, 'u@x.test', 'x.test', '2024-05-01T12:00:00+00:00', 5,"
        " '2024-05-01T12:00:00+00:00');"
    )
    old.close()
    store = SQLiteQueueEntries(datadir, now=Clock())
    try:
        assert [e.rcpt for e in store.claim_due(T0, max_domains=1)["x.test"]] == ["u@x.test"]
    finally:
        store.close()
