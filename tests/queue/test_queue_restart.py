"""Stop and restart: attempts in progress are retried, nothing lost or doubled."""

from __future__ import annotations

import asyncio

from queue_env import QEnv


async def wait_until_empty(qenv: QEnv, q: object, timeout: float = 5.0) -> None:
    from queue_env import TestQueue

    assert isinstance(q, TestQueue)
    for _ in range(int(timeout / 0.02)):
        if not q.db.entries():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("queue did not empty")


async def test_stop_mid_attempt_then_restart_delivers_once(qenv: QEnv) -> None:
    qenv.deliverer.delay = 30  # never finishes before stop's timeout
    q = qenv.queue(poll_interval=0.05)
    q.start()
    [entry_id] = await q.add("alice", "alice@example.org", ["a@remote.test"], qenv.message_file())
    await asyncio.wait_for(qenv.deliverer.started.wait(), 5)
    await q.stop(timeout=0.1)  # the attempt is cancelled: its entry stays
    assert qenv.deliverer.completed == []

    qenv.deliverer.delay = 0
    q2 = qenv.queue(poll_interval=0.05)
    [e] = q2.db.entries()
    assert e.id == entry_id and e.attempts == 1  # counted, still due
    q2.start()
    await wait_until_empty(qenv, q2)
    assert len(qenv.deliverer.completed) == 1
    assert qenv.deliverer.requests[-1].attempt == 2
    assert qenv.queue_files() == []


async def test_graceful_stop_waits_for_running_attempt(qenv: QEnv) -> None:
    qenv.deliverer.delay = 0.3
    q = qenv.queue(poll_interval=0.05)
    q.start()
    await q.add("alice", "alice@example.org", ["a@remote.test"], qenv.message_file())
    await asyncio.wait_for(qenv.deliverer.started.wait(), 5)
    await q.stop(timeout=5)
    assert len(qenv.deliverer.completed) == 1
    q2 = qenv.queue()
    assert q2.db.entries() == []  # the result was recorded before stopping


async def test_restart_without_duplicates(qenv: QEnv) -> None:
    q = qenv.queue()
    await q.add(
        "alice", "alice@example.org", ["a@remote.test", "b@remote.test"], qenv.message_file()
    )
    before = [(e.id, e.rcpt) for e in q.db.entries()]
    await q.stop()
    for _ in range(2):
        q2 = qenv.queue()
        q2.recover()
        assert [(e.id, e.rcpt) for e in q2.db.entries()] == before
        await q2.stop()


async def test_loop_notices_changes_from_another_process(qenv: QEnv) -> None:
    from postel.queue import SQLiteQueueEntries

    q = qenv.queue(poll_interval=0.05)
    [i] = await q.add("alice", "alice@example.org", ["a@remote.test"], qenv.message_file())
    q.db.set_hold(i, True)
    q.start()
    await asyncio.sleep(0.2)
    assert qenv.deliverer.requests == []
    other = SQLiteQueueEntries(qenv.cfg.datadir, now=qenv.clock)  # as the CLI does
    try:
        other.retry(i)
    finally:
        other.close()
    await wait_until_empty(qenv, q)
    assert len(qenv.deliverer.completed) == 1
