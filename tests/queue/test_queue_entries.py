"""The entry store on its own, as the CLI, webmail and report senders use it."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Collection

import pytest
from queue_env import T0, Clock, QEnv

from postel.queue import Deferral, EntryNotFound, SQLiteQueueEntries


def test_add_list_hold_release_retry_drop(qenv: QEnv) -> None:
    clock = Clock()
    entries = SQLiteQueueEntries(qenv.cfg.datadir, now=clock)
    woken: list[int] = []
    entries.on_added(lambda: woken.append(1))
    try:
        ids = entries.add("alice", "alice@example.org", ["a@x.test", "b@y.test"], b"S: x\r\n\r\nx")
        assert woken == [1]
        assert [e.id for e in entries.entries()] == ids
        assert entries.counts() == (2, 0)
        entries.hold(ids[0])
        assert entries.counts() == (2, 1)
        entries.release(ids[0])
        assert entries.counts() == (2, 0)
        assert entries.retry(None) == 2
        dropped = entries.drop(ids[1])
        assert dropped.rcpt == "b@y.test" and entries.counts() == (1, 0)
        with pytest.raises(EntryNotFound):
            entries.hold(9999)
        path = entries.message_file(dropped.msg.id)
        assert path is not None and entries.header_block(dropped.msg.id) == b"S: x\r\n\r\n"
    finally:
        entries.close()


def test_unclaim_does_not_wait_for_a_database_call(
    qenv: QEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ending claims (the runner does it on its event loop when a job ends)
    returns at once while another thread is inside a slow database call."""
    entries = SQLiteQueueEntries(qenv.cfg.datadir, now=Clock())
    try:
        entries.add("alice", "alice@example.org", ["a@x.test"], b"S: x\r\n\r\nx")
        [e] = entries.claim_due(T0, max_domains=1)["x.test"]
        inside = threading.Event()
        real = entries._db.next_due

        def slow(exclude: Collection[int]) -> dt.datetime | None:
            inside.set()
            time.sleep(1.0)
            return real(exclude)

        monkeypatch.setattr(entries._db, "next_due", slow)
        worker = threading.Thread(target=entries.next_due)
        worker.start()
        assert inside.wait(5)
        started = time.monotonic()
        entries.unclaim([e.id])
        waited = time.monotonic() - started
        worker.join()
        assert waited < 0.5
        assert list(entries.claim_due(T0, max_domains=1)) == ["x.test"]
    finally:
        entries.close()


def test_claims(qenv: QEnv) -> None:
    """A claimed entry is not claimed again until its outcome is recorded or
    the claim is given up; busy domains and the domain limit are honoured."""
    entries = SQLiteQueueEntries(qenv.cfg.datadir, now=Clock())
    try:
        msg = b"S: x\r\n\r\nx"
        entries.add("alice", "alice@example.org", ["a@x.test", "b@x.test"], msg)
        entries.add("alice", "alice@example.org", ["c@y.test"], msg)
        entries.add("alice", "alice@example.org", ["d@z.test"], msg)
        first = entries.claim_due(T0, max_domains=2, busy={"y.test"})
        assert {d: [e.rcpt for e in es] for d, es in first.items()} == {
            "x.test": ["a@x.test", "b@x.test"],
            "z.test": ["d@z.test"],
        }
        assert list(entries.claim_due(T0, max_domains=5)) == ["y.test"]
        assert entries.claim_due(T0, max_domains=5) == {}
        assert entries.next_due() is None  # all claimed
        a, b = first["x.test"]
        later = T0 + dt.timedelta(hours=1)
        entries.finish([a.id], [Deferral(b.id, later, error="try later", code=451)])
        assert [e.rcpt for e in entries.entries()] == ["c@y.test", "d@z.test", "b@x.test"]
        assert entries.next_due() == later  # b: no longer claimed
        entries.unclaim([first["z.test"][0].id])
        assert list(entries.claim_due(T0, max_domains=5)) == ["z.test"]
    finally:
        entries.close()
