"""The queue runner delivering from PostgreSQL (a fake deliverer, as in
tests/queue): two nodes' runners share the entries; a node that stops
mid-delivery leaves its entries to the other once its lease ends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pghelpers import LoopThread
from queuehelpers import MESSAGE, T0, Clock, migrate_db, pg_node

from postel.config import Config, load_config
from postel.delivery import DeliveryOutcome, DeliveryRequest, RecipientOutcome
from postel.pg.errors import PgQueueUnavailable
from postel.pg.queue import PgQueueEntries
from postel.pg.settings import PgSettings
from postel.queue import OutcomeRecorder, QueueRunner
from postel.store.store import Store


@dataclass
class Deliverer:
    """Delivers everything but to slow.test (451); keeps what it was given."""

    delivered: list[tuple[str, bytes]] = field(default_factory=list)

    async def deliver(self, req: DeliveryRequest) -> DeliveryOutcome:
        body = req.message.read_bytes()
        await asyncio.sleep(0.01)
        out = []
        for rcpt in req.rcpts:
            if req.domain == "slow.test":
                out.append(RecipientOutcome(rcpt, "temporary", 451, "4.4.1", "try later"))
            else:
                self.delivered.append((rcpt, body))
                out.append(RecipientOutcome(rcpt, "delivered", 250, "2.0.0", "ok", "mx"))
        return DeliveryOutcome(tuple(out))


@dataclass
class Env:
    settings: PgSettings
    root: Path
    cfg: Config
    store: Store
    clock: Clock
    runners: list[QueueRunner] = field(default_factory=list)
    nodes: list[PgQueueEntries] = field(default_factory=list)

    def runner(self, node: str, deliverer: Deliverer, *, lease: float = 600.0) -> QueueRunner:
        entries = pg_node(self.settings, self.root, node, lease=lease, clock=self.clock)
        self.nodes.append(entries)
        runner = QueueRunner(
            self.cfg,
            entries,
            deliverer,
            OutcomeRecorder(entries, None, self.store),
            self.store,
            now=self.clock,
            rand=lambda: 0.5,
            poll_interval=0.5,
        )
        self.runners.append(runner)
        return runner


@pytest.fixture
async def env(
    loop_thread: LoopThread, pg_settings: PgSettings, tmp_path: Path
) -> AsyncIterator[Env]:
    migrate_db(loop_thread, pg_settings)
    config = tmp_path / "config"
    config.mkdir()
    (config / "postel.toml").write_text(
        'hostname = "mail.example.org"\npostmaster_account = "alice"\n'
    )
    (config / "domains.toml").write_text(
        '[domains."example.org"]\n[accounts.alice]\ndomain = "example.org"\n'
        'addresses = ["alice@example.org"]\n'
    )
    cfg = load_config(config)
    cfg.datadir.ensure()
    store = Store(cfg.datadir)
    e = Env(pg_settings, tmp_path, cfg, store, Clock())
    try:
        yield e
    finally:
        for r in e.runners:
            await r.stop(timeout=1)
        for n in e.nodes:
            await asyncio.to_thread(n.close)
        store.close()


async def _until(check: object, timeout: float = 90.0) -> None:
    assert callable(check)
    async with asyncio.timeout(timeout):
        while not await asyncio.to_thread(check):
            await asyncio.sleep(0.05)


async def test_two_runners_deliver_each_entry_once(env: Env) -> None:
    da, db = Deliverer(), Deliverer()
    a, b = env.runner("a", da), env.runner("b", db)
    a.start()
    b.start()
    entries = env.nodes[0]
    want = []
    for i in range(30):
        rcpts = [f"u{i}@d{i % 8}.test", f"v{i}@d{(i + 1) % 8}.test"]
        want += rcpts
        await asyncio.to_thread(entries.add, "alice", "alice@example.org", rcpts, MESSAGE)
    (slow,) = await asyncio.to_thread(
        entries.add, "alice", "alice@example.org", ["x@slow.test"], MESSAGE
    )
    await _until(lambda: entries.counts() == (1, 0) and entries.get(slow).attempts == 1)
    got = da.delivered + db.delivered
    assert sorted(r for r, _ in got) == sorted(want)  # each once, by one node or the other
    assert {body for _, body in got} == {MESSAGE}
    left = await asyncio.to_thread(entries.get, slow)
    assert left.last_code == 451 and left.next_attempt > T0


class Stuck(Deliverer):
    """An attempt that lasts until *release* is set, then fails temporarily."""

    def __init__(self) -> None:
        super().__init__()
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def deliver(self, req: DeliveryRequest) -> DeliveryOutcome:
        self.started.set()
        await self.release.wait()
        return DeliveryOutcome(
            tuple(RecipientOutcome(r, "temporary", 451, "4.4.1", "late") for r in req.rcpts)
        )


async def test_a_node_cut_off_mid_delivery_leaves_its_entries_to_another(env: Env) -> None:
    """Node a claims and starts an attempt, then loses the database (its
    attempt never ends, its lease renewals fail); node b delivers once a's
    lease has ended, and a's late outcome changes nothing."""
    stuck = Stuck()
    stuck_started, release = stuck.started, stuck.release
    db = Deliverer()
    a = env.runner("a", stuck, lease=1.0)
    a_entries = env.nodes[0]

    def cut_off() -> None:
        raise PgQueueUnavailable("PostgreSQL test: queue: cut off")

    a_entries.renew_claims = cut_off  # type: ignore[method-assign]
    ids = await asyncio.to_thread(
        a_entries.add, "alice", "alice@example.org", ["a@x.test", "b@x.test"], MESSAGE
    )
    a.start()
    await asyncio.wait_for(stuck_started.wait(), 90)
    b = env.runner("b", db)
    b.start()
    await _until(lambda: a_entries.counts() == (0, 0))
    assert sorted(r for r, _ in db.delivered) == ["a@x.test", "b@x.test"]
    release.set()  # a comes back and records its outcome: nothing to overwrite
    await a.stop(timeout=5)
    assert await asyncio.to_thread(a_entries.entries) == []
    assert ids


async def test_an_attempt_longer_than_the_lease_keeps_its_claim(env: Env) -> None:
    """Node a's attempt lasts three times its lease; a renews the lease while
    the attempt runs, so node b, looking for work all the while, never takes
    the entry; a's outcome is recorded. The lease runs on the database's
    clock: 3 s, renewed every second, lets a renewal be up to 2 s late on a
    loaded machine (a 1 s lease let one late by 0.7 s lose the claim)."""
    lease = 3.0
    stuck = Stuck()
    db = Deliverer()
    a = env.runner("a", stuck, lease=lease)
    a_entries = env.nodes[0]
    (entry,) = await asyncio.to_thread(
        a_entries.add, "alice", "alice@example.org", ["a@x.test"], MESSAGE
    )
    a.start()
    await asyncio.wait_for(stuck.started.wait(), 90)
    b = env.runner("b", db)
    b.start()
    await asyncio.sleep(3 * lease)
    assert db.delivered == []
    stuck.release.set()
    await _until(lambda: a_entries.get(entry).last_error == "late")
    assert db.delivered == []


async def test_the_message_is_fetched_off_the_event_loop(env: Env) -> None:
    """The runner asks the store for the message file in a worker thread: the
    PostgreSQL store reads it from the database."""
    d = Deliverer()
    runner = env.runner("a", d)
    entries = env.nodes[0]
    on_loop: list[bool] = []
    fetch = entries.message_file

    def message_file(msg_id: int) -> Path | None:
        try:
            asyncio.get_running_loop()
            on_loop.append(True)
        except RuntimeError:
            on_loop.append(False)
        return fetch(msg_id)

    entries.message_file = message_file  # type: ignore[method-assign]
    await asyncio.to_thread(entries.add, "alice", "alice@example.org", ["a@x.test"], MESSAGE)
    await runner.run_due()
    assert [r for r, _ in d.delivered] == ["a@x.test"]
    assert on_loop == [False]
