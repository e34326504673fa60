"""The entry store's contract, on SQLite and on PostgreSQL alike."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from pghelpers import LoopThread
from queuehelpers import MESSAGE, T0, Clock, migrate_db, pg_node

from postel.datadir import DataDir
from postel.pg.settings import PgSettings
from postel.queue import Deferral, EntryNotFound, QueueEntries, SQLiteQueueEntries


@pytest.fixture(params=["sqlite", "postgresql"])
def entries(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[QueueEntries]:
    store: QueueEntries
    if request.param == "sqlite":
        store = SQLiteQueueEntries(DataDir(tmp_path / "data"), now=Clock())
    else:
        lt: LoopThread = request.getfixturevalue("loop_thread")
        settings: PgSettings = request.getfixturevalue("pg_settings")
        migrate_db(lt, settings)
        store = pg_node(settings, tmp_path, "a")
    try:
        yield store
    finally:
        store.close()


def test_add_list_hold_release_retry_drop(entries: QueueEntries) -> None:
    woken: list[int] = []
    entries.on_added(lambda: woken.append(1))
    ids = entries.add("alice", "alice@example.org", ["a@x.test", "b@y.test", "a@x.test"], MESSAGE)
    assert woken == [1]
    listed = entries.entries()
    assert [e.id for e in listed] == ids and len(ids) == 2
    first = listed[0]
    assert (first.rcpt, first.domain, first.attempts, first.hold) == (
        "a@x.test",
        "x.test",
        0,
        False,
    )
    assert first.msg.subject == "Hi" and first.msg.size == len(MESSAGE)
    assert first.msg.sender_account == "alice" and first.msg.created == T0
    assert entries.get(ids[1]).rcpt == "b@y.test"
    assert entries.counts() == (2, 0)
    entries.hold(ids[0])
    assert entries.counts() == (2, 1) and entries.get(ids[0]).hold
    entries.release(ids[0])
    assert entries.counts() == (2, 0)
    assert entries.retry(None) == 2
    assert entries.retry(ids[0]) == 1
    dropped = entries.drop(ids[1])
    assert dropped.rcpt == "b@y.test" and entries.counts() == (1, 0)
    for missing in (lambda: entries.hold(9999), lambda: entries.get(9999)):
        with pytest.raises(EntryNotFound, match="no queue entry with id 9999"):
            missing()
    with pytest.raises(EntryNotFound):
        entries.retry(9999)
    # The message stays while an entry names it.
    msg_id = dropped.msg.id
    assert entries.message_bytes(msg_id) == MESSAGE
    path = entries.message_file(msg_id)
    assert path is not None and path.read_bytes() == MESSAGE
    assert entries.header_block(msg_id) == b"From: alice@example.org\r\nSubject: Hi\r\n\r\n"
    entries.drop(ids[0])
    assert entries.entries() == [] and entries.counts() == (0, 0)
    assert entries.message_bytes(msg_id) is None
    assert entries.header_block(msg_id) == b""


def test_add_reads_flags_from_the_message(entries: QueueEntries, tmp_path: Path) -> None:
    spool = tmp_path / "in"
    spool.write_bytes(b"TLS-Required: No\r\nTLS-Report-Domain: x.test\r\n\r\nreport\r\n")
    (i,) = entries.add("", "", ["postmaster@x.test"], spool)
    msg = entries.get(i).msg
    assert msg.tls_required_no and msg.is_tlsrpt and msg.mail_from == ""
    (j,) = entries.add("", "", ["postmaster@x.test"], spool.read_bytes(), requiretls=True)
    assert not entries.get(j).msg.tls_required_no  # RFC 8689 §4.2.1: REQUIRETLS wins
    assert entries.get(j).msg.requiretls


def test_claims(entries: QueueEntries) -> None:
    """A claimed entry is not claimed again until its outcome is recorded or
    the claim is given up; busy domains and the domain limit are honoured."""
    entries.add("alice", "alice@example.org", ["a@x.test", "b@x.test"], MESSAGE)
    entries.add("alice", "alice@example.org", ["c@y.test"], MESSAGE)
    entries.add("alice", "alice@example.org", ["d@z.test"], MESSAGE)
    first = entries.claim_due(T0, max_domains=2, busy={"y.test"})
    assert {d: [e.rcpt for e in es] for d, es in first.items()} == {
        "x.test": ["a@x.test", "b@x.test"],
        "z.test": ["d@z.test"],
    }
    assert list(entries.claim_due(T0, max_domains=5)) == ["y.test"]
    assert entries.claim_due(T0, max_domains=5) == {}
    assert entries.next_due() is None  # all claimed
    a, b = first["x.test"]
    entries.begin_attempt([a.id, b.id])
    later = T0 + dt.timedelta(hours=1)
    entries.finish([a.id], [Deferral(b.id, later, error="try later", code=451)])
    assert [e.rcpt for e in entries.entries()] == ["c@y.test", "d@z.test", "b@x.test"]
    after = entries.get(b.id)
    assert (after.attempts, after.last_error, after.last_code) == (1, "try later", 451)
    assert after.last_attempt == T0 and after.next_attempt == later
    assert entries.next_due() == later  # b: no longer claimed
    assert entries.claim_due(T0, max_domains=5) == {}  # b: not due before later
    assert list(entries.claim_due(later, max_domains=5)) == ["x.test"]
    entries.unclaim([first["z.test"][0].id])
    assert list(entries.claim_due(T0, max_domains=5)) == ["z.test"]


def test_held_entries_are_not_claimed(entries: QueueEntries) -> None:
    (i,) = entries.add("alice", "alice@example.org", ["a@x.test"], MESSAGE)
    entries.hold(i)
    assert entries.claim_due(T0, max_domains=5) == {} and entries.next_due() is None
    entries.release(i)
    assert entries.next_due() == T0
    assert [e.id for e in entries.claim_due(T0, max_domains=5)["x.test"]] == [i]


def test_the_last_done_entry_removes_the_message(entries: QueueEntries) -> None:
    ids = entries.add("alice", "alice@example.org", ["a@x.test", "b@y.test"], MESSAGE)
    claimed = entries.claim_due(T0, max_domains=5)
    msg_id = claimed["x.test"][0].msg.id
    path = entries.message_file(msg_id)
    entries.finish([ids[0]], [])
    assert entries.message_bytes(msg_id) == MESSAGE
    entries.finish([ids[1]], [])
    assert entries.message_bytes(msg_id) is None and entries.entries() == []
    assert path is not None and not path.exists()
