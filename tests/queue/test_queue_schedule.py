"""Backoff, per-domain grouping, scheduling with a fake clock, concurrency bound."""

from __future__ import annotations

import asyncio
import datetime as dt

from hypothesis import given
from hypothesis import strategies as st
from queue_env import T0, FakeDeliverer, QEnv, ok, temp

from postel.config import load_config
from postel.config.model import DeliveryConfig
from postel.delivery import DeliveryRequest, RecipientOutcome
from postel.queue import backoff

MIN = dt.timedelta(minutes=1)


def test_retry_delays_double_from_seven_and_a_half_minutes() -> None:
    delays = [backoff.retry_delay(n) for n in range(1, 9)]
    assert delays == [dt.timedelta(minutes=7.5 * 2**i) for i in range(8)]
    assert backoff.retry_delay(1, 0.0) == dt.timedelta(minutes=6.75)
    assert backoff.retry_delay(1, 0.999999) < dt.timedelta(minutes=8.25)


def test_give_up_after_five_days_or_max_attempts() -> None:
    t, attempts, times = T0, 0, []
    while True:
        attempts += 1
        nxt = backoff.next_attempt(T0, t, attempts, backoff.DEFAULT_MAX_ATTEMPTS)
        if nxt is None:
            break
        times.append(nxt)
        t = nxt
    assert times[-1] == T0 + backoff.MAX_AGE  # the last try exactly at the deadline
    assert 9 <= attempts <= 13
    assert backoff.next_attempt(T0, T0, 4, 4) is None


@given(st.integers(1, 60), st.floats(0, 0.999), st.integers(0, 10**6))
def test_next_attempt_never_past_deadline(attempts: int, rand: float, offset: int) -> None:
    now = T0 + dt.timedelta(seconds=offset)
    nxt = backoff.next_attempt(T0, now, attempts, 100, rand)
    if nxt is not None:
        assert now < nxt <= T0 + backoff.MAX_AGE


def test_delay_dsn_once_after_four_hours() -> None:
    assert not backoff.delay_dsn_due(T0, T0 + dt.timedelta(hours=3), False)
    assert backoff.delay_dsn_due(T0, T0 + dt.timedelta(hours=4), False)
    assert not backoff.delay_dsn_due(T0, T0 + dt.timedelta(hours=5), True)


async def test_one_transaction_per_domain_with_all_its_recipients(qenv: QEnv) -> None:
    q = qenv.queue()
    await q.add(
        "alice",
        "alice@example.org",
        ["a@remote.test", "b@other.test", "c@REMOTE.test"],
        qenv.message_file(),
    )
    await q.run_due()
    reqs = sorted(qenv.deliverer.requests, key=lambda r: r.domain)
    assert [(r.domain, r.rcpts) for r in reqs] == [
        ("other.test", ["b@other.test"]),
        ("remote.test", ["a@remote.test", "c@remote.test"]),
    ]
    r = reqs[0]
    assert r.mail_from == "alice@example.org" and r.sender_account == "alice"
    assert r.attempt == 1 and r.size == qenv.message_file().stat().st_size
    assert q.db.entries() == []  # delivered rows removed
    assert qenv.queue_files() == []  # and the file


async def test_temporary_failure_backs_off(qenv: QEnv) -> None:
    qenv.deliverer.decide = temp
    q = qenv.queue()
    await q.add("alice", "alice@example.org", ["a@remote.test"], qenv.message_file())
    await q.run_due()
    [e] = q.db.entries()
    assert e.attempts == 1 and e.last_attempt == T0
    assert e.next_attempt == T0 + dt.timedelta(minutes=7.5)
    assert e.last_error == "try later" and e.last_code == 451 and e.remote_mta == "mx.remote.test"
    # Not due yet: nothing happens.
    qenv.clock.advance(7 * MIN)
    await q.run_due()
    assert len(qenv.deliverer.requests) == 1
    qenv.clock.advance(1 * MIN)
    await q.run_due()
    assert len(qenv.deliverer.requests) == 2
    assert qenv.deliverer.requests[1].attempt == 2
    [e] = q.db.entries()
    assert e.next_attempt == qenv.clock.t + dt.timedelta(minutes=15)
    # Succeeds on the third try.
    qenv.deliverer.decide = ok
    qenv.clock.advance(15 * MIN)
    await q.run_due()
    assert q.db.entries() == []


async def test_partial_success_keeps_only_failed_recipients(qenv: QEnv) -> None:
    def mixed(req: DeliveryRequest, rcpt: str) -> RecipientOutcome:
        return ok(req, rcpt) if rcpt.startswith("a") else temp(req, rcpt)

    qenv.deliverer.decide = mixed
    q = qenv.queue()
    await q.add(
        "alice", "alice@example.org", ["a@remote.test", "b@remote.test"], qenv.message_file()
    )
    await q.run_due()
    assert [e.rcpt for e in q.db.entries()] == ["b@remote.test"]
    qenv.clock.advance(10 * MIN)
    await q.run_due()
    assert qenv.deliverer.requests[-1].rcpts == ["b@remote.test"]


async def test_deliverer_exception_is_a_temporary_failure(qenv: QEnv) -> None:
    class Boom(FakeDeliverer):
        async def deliver(self, req: DeliveryRequest) -> list[RecipientOutcome]:
            raise RuntimeError("bug")

    qenv.deliverer = Boom()
    q = qenv.queue()
    await q.add("alice", "alice@example.org", ["a@remote.test"], qenv.message_file())
    await q.run_due()
    [e] = q.db.entries()
    assert e.attempts == 1 and "bug" in e.last_error
    assert e.next_attempt > T0


async def test_held_entries_are_not_attempted(qenv: QEnv) -> None:
    q = qenv.queue()
    [i] = await q.add("alice", "alice@example.org", ["a@remote.test"], qenv.message_file())
    q.db.set_hold(i, True)
    await q.run_due()
    assert qenv.deliverer.requests == []
    q.db.retry(i, qenv.clock.t)
    await q.run_due()
    assert len(qenv.deliverer.requests) == 1


async def test_concurrency_bound_and_one_job_per_domain(qenv: QEnv) -> None:
    qenv.deliverer.delay = 0.05
    q = qenv.queue(concurrency=3, poll_interval=0.05, destination_concurrency=1)
    for i in range(8):
        await q.add("alice", "alice@example.org", [f"x@d{i}.test"], qenv.message_file())
    # Two more messages for one domain: with a destination concurrency of 1,
    # never two sessions to it at once.
    for _ in range(2):
        await q.add("alice", "alice@example.org", ["y@d0.test"], qenv.message_file())
    running_d0: list[int] = []
    orig = qenv.deliverer.deliver

    async def watch(req: DeliveryRequest) -> list[RecipientOutcome]:
        if req.domain == "d0.test":
            running_d0.append(1)
            assert len(running_d0) == 1
            try:
                return await orig(req)
            finally:
                running_d0.pop()
        return await orig(req)

    qenv.deliverer.deliver = watch  # type: ignore[method-assign]
    q.start()
    for _ in range(200):
        if not q.db.entries():
            break
        await asyncio.sleep(0.02)
    assert q.db.entries() == []
    assert len(qenv.deliverer.completed) == 10
    assert qenv.deliverer.max_running == 3


async def test_destination_concurrency_limit(qenv: QEnv) -> None:
    """Messages to one domain go out up to destination_concurrency at once
    (Postfix's default_destination_concurrency_limit), never more."""
    qenv.deliverer.delay = 0.05
    q = qenv.queue(poll_interval=0.05, destination_concurrency=3)
    for _ in range(10):
        await q.add("alice", "alice@example.org", ["x@d0.test"], qenv.message_file())
    await q.run_due()
    assert q.db.entries() == []
    assert len(qenv.deliverer.completed) == 10
    assert qenv.deliverer.max_running == 3


async def test_destination_concurrency_from_config(qenv: QEnv) -> None:
    q = qenv.queue()
    assert q.destination_concurrency == qenv.cfg.static.delivery.destination_concurrency == 20


async def test_domain_concurrency_from_config(qenv: QEnv) -> None:
    """[delivery] domain_concurrency bounds the recipient domains delivered to
    at once; more domains wait for a free slot and all are delivered."""
    static = qenv.root / "config" / "postel.toml"
    static.write_text(static.read_text() + "\n[delivery]\ndomain_concurrency = 4\n")
    qenv.cfg = load_config(qenv.root / "config")
    qenv.deliverer.delay = 0.05
    q = qenv.queue(poll_interval=0.05)
    assert q.concurrency == 4
    for i in range(12):
        await q.add("alice", "alice@example.org", [f"x@d{i}.test"], qenv.message_file())
    q.start()
    for _ in range(200):
        if not q.db.entries():
            break
        await asyncio.sleep(0.02)
    assert q.db.entries() == []
    assert len(qenv.deliverer.completed) == 12
    assert qenv.deliverer.max_running == 4


def test_domain_concurrency_default_is_postfix_process_limit() -> None:
    """The default is sized like Postfix's default_process_limit (100)."""
    assert DeliveryConfig().domain_concurrency == 100


async def test_attempt_writes_are_batched(qenv: QEnv) -> None:
    """Concurrent attempts share the queue's commits: fewer begin and
    outcome writes than messages, and every entry is gone afterwards."""
    qenv.deliverer.delay = 0.02
    q = qenv.queue(destination_concurrency=10)
    for _ in range(20):
        await q.add("alice", "alice@example.org", ["x@d0.test"], qenv.message_file())
    await q.run_due()
    assert q.db.entries() == []
    assert qenv.queue_files() == []
    assert q._begin.calls < 20
    assert q.recorder.writes < 20
