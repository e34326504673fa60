"""Adding to the queue: message file + rows durable together; crash leftovers cleaned."""

from __future__ import annotations

import pytest
from queue_env import MESSAGE, T0, QEnv

from postel.datadir import message_path
from postel.queue import BadMessage, QueueDB


async def test_add_writes_file_and_rows(qenv: QEnv) -> None:
    q = qenv.queue()
    src = qenv.message_file()
    ids = await q.add(
        "alice", "alice@example.org", ["a@remote.test", "b@remote.test", "c@other.test"], src
    )
    assert len(ids) == 3
    db = QueueDB.open(qenv.cfg.datadir)  # a second connection sees the committed rows
    try:
        entries = db.entries()
    finally:
        db.close()
    assert [e.rcpt for e in entries] == ["a@remote.test", "b@remote.test", "c@other.test"]
    assert [e.domain for e in entries] == ["remote.test", "remote.test", "other.test"]
    msg = entries[0].msg
    assert all(e.msg.id == msg.id for e in entries)
    assert msg.sender_account == "alice" and msg.mail_from == "alice@example.org"
    assert msg.size == len(MESSAGE) and msg.subject == "Hello there"
    assert not msg.tls_required_no and not msg.is_tlsrpt and not msg.smtputf8
    assert entries[0].next_attempt == T0 and entries[0].attempts == 0
    path = message_path(qenv.cfg.datadir.queue_dir, msg.id)
    assert path.read_bytes() == MESSAGE
    # The spool file may go away after add returns (Submitter contract).
    src.unlink()
    assert path.read_bytes() == MESSAGE


async def test_add_detects_headers_and_flags(qenv: QEnv) -> None:
    q = qenv.queue()
    data = (
        b"From: reports@example.org\r\nTLS-Report-Domain: example.org\r\n"
        b"TLS-Required: No\r\nSubject: Gr\xc3\xbc\xc3\x9fe\r\n\r\nbody \xc3\xa9\r\n"
    )
    await q.add(
        "",
        "reports@example.org",
        ["tlsrpt@remote.test", "tlsrpt@remote.test"],
        qenv.message_file(data),
    )
    [e] = q.db.entries()  # duplicate recipients collapse
    assert e.msg.is_tlsrpt and e.msg.tls_required_no
    assert e.msg.smtputf8 and e.msg.eightbit
    assert e.max_attempts == 4  # TLS reports: a few attempts only


async def test_requiretls_overrides_tls_required_no(qenv: QEnv) -> None:
    q = qenv.queue()
    data = b"From: alice@example.org\r\nTLS-Required: No\r\n\r\nx\r\n"
    await q.add(
        "alice", "alice@example.org", ["x@remote.test"], qenv.message_file(data), requiretls=True
    )
    [e] = q.db.entries()
    assert e.msg.requiretls and not e.msg.tls_required_no


async def test_add_bad_recipient_leaves_nothing(qenv: QEnv) -> None:
    q = qenv.queue()
    with pytest.raises(BadMessage, match="bad recipient"):
        await q.add("alice", "alice@example.org", ["not an address"], qenv.message_file())
    assert q.db.entries() == []
    assert qenv.queue_files() == []


async def test_failed_commit_removes_file(qenv: QEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    q = qenv.queue()
    import postel.queue.db as qdb

    real = qdb.transaction
    calls = {"n": 0}

    def failing(conn):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:  # 1: id allocation, 2: the rows
            raise RuntimeError("disk full")
        return real(conn)

    monkeypatch.setattr(qdb, "transaction", failing)
    with pytest.raises(RuntimeError):
        await q.add("alice", "alice@example.org", ["x@remote.test"], qenv.message_file())
    assert qenv.queue_files() == []


async def test_crash_between_write_and_commit_leaves_orphan_that_recovery_removes(
    qenv: QEnv,
) -> None:
    # Simulate the crash: the file is placed (id allocated), the rows never committed.
    db = QueueDB.open(qenv.cfg.datadir)
    mid = db._allocate_id()
    orphan = db.msg_path(mid)
    db._place(MESSAGE, orphan)
    tmp_leftover = orphan.parent / ".tmp-1-abc-9"
    tmp_leftover.write_bytes(b"partial")
    db.close()
    assert orphan.exists()

    q = qenv.queue()
    assert q.db.entries() == []
    # Young files may belong to an add in progress elsewhere: kept for now.
    assert q.db.recover() == []
    assert orphan.exists()
    q.recover(min_age=0)
    assert not orphan.exists() and not tmp_leftover.exists()
    # Ids are never reused: the next message gets a new one.
    await q.add("alice", "alice@example.org", ["x@remote.test"], qenv.message_file())
    [e] = q.db.entries()
    assert e.msg.id == mid + 1


async def test_recovery_keeps_queued_messages(qenv: QEnv) -> None:
    q = qenv.queue()
    await q.add("alice", "alice@example.org", ["x@remote.test"], qenv.message_file())
    [e] = q.db.entries()
    await q.stop()
    q2 = qenv.queue()
    q2.recover()
    assert [x.id for x in q2.db.entries()] == [e.id]
    assert q2.db.msg_path(e.msg.id).read_bytes() == MESSAGE
