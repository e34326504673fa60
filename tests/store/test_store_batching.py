"""The store's one delivery path (store/batching.py): a thread per Store that
writes message files and stores batches of them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any

import pytest

from postel.datadir import DataDir, message_path
from postel.store import Store, StoreError, UnknownAccount, placing
from postel.store.batching import DeliveryBatcher
from postel.store.jobs import Job, Result
from postel.store.message import Message
from postel.store.placing import Placing

HEADERS = b"Received: from client.test by mx.example.org; Tue, 2 Jan 2024 10:00:00 +0000\r\n"
BODY = (
    b"From: Sender <someone@sender.test>\r\n"
    b"To: alice@example.org\r\n"
    b"Subject: hello\r\n"
    b"Message-ID: <1@sender.test>\r\n"
    b"\r\n"
    b"Hello Alice.\r\n"
)


@pytest.fixture
def datadir(tmp_path: Path) -> DataDir:
    return DataDir(tmp_path / "data")


@pytest.fixture
async def store(datadir: DataDir) -> AsyncIterator[Store]:
    s = Store(datadir, accounts=["alice", "bob"])
    yield s
    s.close()


def write_and_store(
    store: Store,
    final: Path,
    headers: bytes,
    body: bytes | Path,
    targets: list[tuple[str, str]],
    requiretls: bool,
) -> Coroutine[Any, Any, Result]:
    return store.write_and_deliver(targets, final, headers, body, requiretls=requiretls)


def ids(delivered: list[tuple[str, Message]]) -> list[tuple[str, str, int]]:
    return [(a, m.mailbox, m.msgid) for a, m in delivered]


async def test_concurrent_jobs_are_written_and_stored(
    store: Store, datadir: DataDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real = Placing._deliver_now

    def counting(self: Placing, deliveries: list[object]) -> object:
        calls.append(len(deliveries))
        return real(self, deliveries)  # type: ignore[arg-type]

    monkeypatch.setattr(Placing, "_deliver_now", counting)
    n = 30

    async def one(i: int) -> Result:
        body = BODY + f"message {i}\r\n".encode()
        return await write_and_store(
            store, datadir.tmp / f"m{i}", HEADERS, body, [("alice", "Inbox")], i % 2 == 0
        )

    results = await asyncio.gather(*(one(i) for i in range(n)))
    await asyncio.to_thread(store.batcher.stop)
    acc = store.account("alice")
    msgids = set()
    for i, (delivered, error) in enumerate(results):
        assert error is None
        ((account, mailbox, msgid),) = ids(delivered)
        assert (account, mailbox) == ("alice", "Inbox")
        msgids.add(msgid)
        msg = acc.get(msgid)
        data = acc.message_path(msgid).read_bytes()
        assert data == HEADERS + BODY + f"message {i}\r\n".encode()
        assert (datadir.tmp / f"m{i}").read_bytes() == data  # the file is left for the caller
        assert msg.size == len(data) and msg.requiretls == (i % 2 == 0)
        assert msg.subject == "hello" and msg.from_ == "Sender <someone@sender.test>"
    assert len(msgids) == n
    assert sum(calls) == n and len(calls) <= n
    assert acc.check() == []


async def test_file_from_spool_path(store: Store, datadir: DataDir) -> None:
    spool = datadir.tmp / "spool"
    spool.write_bytes(BODY)
    delivered, error = await write_and_store(
        store, datadir.tmp / "final", HEADERS, spool, [("alice", "Inbox")], False
    )
    assert error is None
    msg = store.account("alice").get(delivered[0][1].msgid)
    assert msg.subject == "hello" and msg.size == len(HEADERS + BODY)


async def test_failed_target_stops_the_job_others_unaffected(
    store: Store, datadir: DataDir
) -> None:
    bad = write_and_store(
        store,
        datadir.tmp / "bad",
        HEADERS,
        BODY,
        [("alice", "Inbox"), ("nobody", "Inbox"), ("bob", "Inbox")],
        False,
    )
    good = write_and_store(
        store, datadir.tmp / "good", HEADERS, BODY, [("alice", "Inbox"), ("bob", "Inbox")], False
    )
    (bad_done, bad_err), (good_done, good_err) = await asyncio.gather(bad, good)
    assert isinstance(bad_err, UnknownAccount)
    assert [(a, m) for a, m, _ in ids(bad_done)] == [("alice", "Inbox")]  # bob not attempted
    assert good_err is None
    assert [(a, m) for a, m, _ in ids(good_done)] == [("alice", "Inbox"), ("bob", "Inbox")]
    assert store.account("bob").mailbox("Inbox").total == 1
    assert store.account("alice").mailbox("Inbox").total == 2


async def test_write_error_is_raised_for_that_job_only(store: Store, datadir: DataDir) -> None:
    exists = datadir.tmp / "exists"
    exists.write_bytes(b"x")
    results = await asyncio.gather(
        write_and_store(store, exists, HEADERS, BODY, [("alice", "Inbox")], False),
        write_and_store(store, datadir.tmp / "ok", HEADERS, BODY, [("alice", "Inbox")], False),
        return_exceptions=True,
    )
    assert isinstance(results[0], FileExistsError)
    assert exists.read_bytes() == b"x"
    ok = results[1]
    assert not isinstance(ok, BaseException) and ok[1] is None and len(ok[0]) == 1
    assert store.account("alice").mailbox("Inbox").total == 1


async def test_store_error_when_store_closed(datadir: DataDir) -> None:
    store = Store(datadir)
    store.account("alice")
    store.close()
    delivered, error = await write_and_store(
        store, datadir.tmp / "m", HEADERS, BODY, [("alice", "Inbox")], False
    )
    assert delivered == [] and isinstance(error, StoreError)


async def test_cancelled_waiter_does_not_break_the_thread(store: Store, datadir: DataDir) -> None:
    task = asyncio.create_task(
        write_and_store(store, datadir.tmp / "c", HEADERS, BODY, [("alice", "Inbox")], False)
    )
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    delivered, error = await write_and_store(
        store, datadir.tmp / "d", HEADERS, BODY, [("alice", "Inbox")], False
    )
    assert error is None and len(delivered) == 1


async def test_stop_finishes_queued_jobs_and_a_new_thread_starts_later(
    store: Store, datadir: DataDir
) -> None:
    tasks = [
        asyncio.create_task(
            write_and_store(
                store, datadir.tmp / f"q{i}", HEADERS, BODY, [("alice", "Inbox")], False
            )
        )
        for i in range(10)
    ]
    await asyncio.sleep(0)  # all submitted
    dt = store.batcher
    assert dt.running
    await asyncio.to_thread(dt.stop)
    assert not dt.running
    results = await asyncio.gather(*tasks)
    assert all(err is None and len(done) == 1 for done, err in results)
    assert store.account("alice").mailbox("Inbox").total == 10
    delivered, error = await write_and_store(
        store, datadir.tmp / "after", HEADERS, BODY, [("alice", "Inbox")], False
    )
    assert error is None and len(delivered) == 1
    await asyncio.to_thread(dt.stop)
    await asyncio.to_thread(dt.stop)  # no thread: nothing to do


def _job(path: Path) -> Job:
    return Job(path, [("alice", "Inbox")], write=(HEADERS, BODY))


async def test_idle_thread_ends_and_restarts(store: Store, datadir: DataDir) -> None:
    dt = DeliveryBatcher(store.account, idle_seconds=0.05)
    for i in range(2):
        delivered, error = await dt.deliver(_job(datadir.tmp / f"i{i}"))
        assert error is None and len(delivered) == 1
        deadline = time.monotonic() + 5
        while dt.running and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert not dt.running
    dt.close()
    assert not dt.running
    delivered, error = await dt.deliver(_job(datadir.tmp / "late"))
    assert delivered == [] and isinstance(error, StoreError)
    assert not (datadir.tmp / "late").exists()


async def test_loops_and_threads_share_the_store_thread(store: Store, datadir: DataDir) -> None:
    """Callers on several event loops and plain threads all go through the
    one batcher of the store; each is completed on its own loop or thread."""

    def other_loop() -> Result:
        async def go() -> Result:
            return await write_and_store(
                store, datadir.tmp / "other", HEADERS, BODY, [("bob", "Inbox")], False
            )

        return asyncio.run(go())

    here = write_and_store(store, datadir.tmp / "here", HEADERS, BODY, [("alice", "Inbox")], False)
    (done_here, err_here), (done_other, err_other), sync = await asyncio.gather(
        here,
        asyncio.to_thread(other_loop),
        asyncio.to_thread(store.account("alice").deliver_bytes, "Archive", BODY),
    )
    assert err_here is None and err_other is None
    assert done_here[0][0] == "alice" and done_other[0][0] == "bob"
    assert sync.mailbox == "Archive" and store.account("alice").get(sync.msgid) == sync


async def test_batch_files_fsynced_during_the_commit_and_fsync_errors_fail_one(
    store: Store, datadir: DataDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The files of a batch are written, linked, then fsynced (at the same
    # time) while the index commits; a file whose fsync fails is taken back:
    # its job fails, its row is removed and its UID recorded as vanished.
    events: list[str] = []
    real_fsync = placing.fsync_file
    real_commit = placing._commit
    real_prepare = Placing._prepare
    acc = store.account("alice")

    def fsync(path: str | Path) -> None:
        events.append("fsync " + Path(path).name)
        if Path(path).name == "2":  # msgids 1, 2, 3 in batch order
            raise OSError(5, "I/O error")
        real_fsync(path)

    def commit(conn: Any) -> None:
        events.append("commit")
        real_commit(conn)

    def prepare(self: Placing, d: Any) -> Any:
        req = real_prepare(self, d)
        assert req.unsynced  # written by the batcher, not fsynced yet
        return req

    monkeypatch.setattr(placing, "fsync_file", fsync)
    monkeypatch.setattr(placing, "_commit", commit)
    monkeypatch.setattr(Placing, "_prepare", prepare)
    thread = DeliveryBatcher(store.account)
    loop = asyncio.get_running_loop()
    jobs = [_job(datadir.tmp / n) for n in ["a", "bad", "c"]]
    for job in jobs:
        job.waiter = loop.create_future()
    datadir.tmp.mkdir(parents=True, exist_ok=True)
    thread._process(jobs)  # one batch of three, as the thread takes them
    await asyncio.sleep(0.05)
    thread.close()
    assert sorted(e for e in events if e != "commit") == ["fsync 1", "fsync 2", "fsync 3"]
    assert "commit" in events
    delivered, error = jobs[1].result()
    assert delivered == [] and isinstance(error, OSError)
    for job in (jobs[0], jobs[2]):
        assert job.waiter is not None and job.waiter.done()
        delivered, error = job.result()
        assert error is None and len(delivered) == 1
    assert sorted(m.uid for m in acc.list_messages("Inbox")) == [1, 3]
    assert not message_path(acc.dir, 2).exists()
    assert acc.changes_since("Inbox", 1).vanished == [2]
    assert acc.check() == []


def test_message_removed_before_its_fsync_is_still_delivered(
    store: Store, datadir: DataDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Under load the fsync threads may get to a file only after the commit
    # and the index lock's release, when another connection (an IMAP
    # expunge) may already have removed the new message: its file is gone
    # because it was delivered and removed, so the delivery stands (250, not
    # a 451 that would make the sender send it again).
    real_fsync = placing.fsync_file
    other = Store(datadir)

    def slow_fsync(path: str | Path) -> None:
        # The expunge waits for the delivery's index lock, so it runs after the commit.
        other.account("alice").remove(int(Path(path).name))
        real_fsync(path)

    monkeypatch.setattr(placing, "fsync_file", slow_fsync)
    acc = store.account("alice")
    try:
        message = acc.deliver_bytes("Inbox", HEADERS + BODY)
    finally:
        other.close()
    assert message.uid == 1
    assert acc.list_messages("Inbox") == []
    assert not message_path(acc.dir, message.msgid).exists()
    assert acc.check() == []


def test_missing_file_whose_row_remains_is_taken_back(
    store: Store, datadir: DataDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A file gone while its row is still there is lost, not removed: taken back.
    real_fsync = placing.fsync_file

    def lost(path: str | Path) -> None:
        Path(path).unlink()
        real_fsync(path)

    monkeypatch.setattr(placing, "fsync_file", lost)
    acc = store.account("alice")
    with pytest.raises(FileNotFoundError):
        acc.deliver_bytes("Inbox", HEADERS + BODY)
    assert acc.list_messages("Inbox") == []
    assert acc.check() == []
