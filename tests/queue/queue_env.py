"""A config dir, a store, a fake clock and a fake deliverer for queue tests."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from postel.config import Config
from postel.delivery import DeliveryOutcome, DeliveryRequest, RecipientOutcome
from postel.queue import OutcomeRecorder, QueueRunner, SQLiteQueueEntries
from postel.queue.db import QueueDB
from postel.queue.recorder import DMARCBounce
from postel.store.store import Store

HOSTNAME = "mail.example.org"

STATIC = f"""
hostname = "{HOSTNAME}"
postmaster_account = "alice"
"""

DOMAINS = """
[domains."example.org"]
[domains."example.org".aliases]
team = ["alice@example.org", "bob@example.org"]
out = ["friend@remote.test", "bob@example.org"]

[accounts.alice]
domain = "example.org"
addresses = ["alice@example.org"]

[accounts.bob]
domain = "example.org"
addresses = ["bob@example.org"]
"""

MESSAGE = (
    b"From: alice@example.org\r\n"
    b"To: someone@remote.test\r\n"
    b"Subject: Hello there\r\n"
    b"Message-ID: <m1@example.org>\r\n"
    b"\r\n"
    b"Hi.\r\n"
)

T0 = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)


def write_config(d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / "postel.toml").write_text(STATIC)
    (d / "domains.toml").write_text(DOMAINS)
    return d


class Clock:
    def __init__(self, start: dt.datetime = T0) -> None:
        self.t = start

    def __call__(self) -> dt.datetime:
        return self.t

    def advance(self, delta: dt.timedelta) -> None:
        self.t += delta


Decide = Callable[[DeliveryRequest, str], RecipientOutcome]


def ok(req: DeliveryRequest, rcpt: str) -> RecipientOutcome:
    return RecipientOutcome(rcpt, "delivered", 250, "2.0.0", "ok", "mx." + req.domain)


def temp(req: DeliveryRequest, rcpt: str) -> RecipientOutcome:
    return RecipientOutcome(rcpt, "temporary", 451, "4.4.1", "try later", "mx." + req.domain)


def perm(req: DeliveryRequest, rcpt: str) -> RecipientOutcome:
    return RecipientOutcome(rcpt, "permanent", 550, "5.1.1", "no such user", "mx." + req.domain)


@dataclass
class FakeDeliverer:
    decide: Decide = ok
    delay: float = 0.0
    requests: list[DeliveryRequest] = field(default_factory=list)
    completed: list[DeliveryRequest] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    running: int = 0
    max_running: int = 0
    started: asyncio.Event = field(default_factory=asyncio.Event)

    async def deliver(self, req: DeliveryRequest) -> DeliveryOutcome:
        self.requests.append(req)
        self.bodies.append(req.message.read_bytes())
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        self.started.set()
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
        finally:
            self.running -= 1
        self.completed.append(req)
        return DeliveryOutcome(tuple(self.decide(req, r) for r in req.rcpts))


@dataclass
class QEnv:
    root: Path
    cfg: Config
    store: Store
    clock: Clock
    deliverer: FakeDeliverer
    queues: list[TestQueue] = field(default_factory=list)

    def queue(self, **kw: Any) -> TestQueue:
        now = kw.pop("now", self.clock)
        entries = SQLiteQueueEntries(self.cfg.datadir, now=now)
        recorder = OutcomeRecorder(
            entries,
            kw.pop("resultdb", None),
            self.store,
            dmarc_bounce=DMARCBounce(self.cfg.datadir.dmarceval_db),
        )
        runner = QueueRunner(
            self.cfg,
            entries,
            kw.pop("deliverer", self.deliverer),
            recorder,
            self.store,
            now=now,
            rand=kw.pop("rand", lambda: 0.5),
            **kw,
        )
        q = TestQueue(runner, entries)
        self.queues.append(q)
        return q

    def message_file(self, data: bytes = MESSAGE, name: str = "spool") -> Path:
        p = self.root / name
        p.write_bytes(data)
        return p

    def queue_files(self) -> list[Path]:
        base = self.cfg.datadir.queue_dir / "msg"
        return sorted(p for p in base.rglob("*") if p.is_file()) if base.exists() else []

    def inbox(self, account: str, mailbox: str = "Inbox") -> list[bytes]:
        acc = self.store.account(account)
        try:
            msgs = acc.list_messages(mailbox)
        except Exception:
            return []
        return [acc.message_path(m.msgid).read_bytes() for m in msgs]


class TestQueue:
    """A runner with its entry store, as the tests drive it: ``add`` as the
    submitter does (in a worker thread), ``db`` the SQLite database underneath
    for inspection, everything else the runner's."""

    __test__ = False

    def __init__(self, runner: QueueRunner, entries: SQLiteQueueEntries) -> None:
        self.runner = runner
        self.entries = entries
        self.db: QueueDB = entries._db
        self.closed = False

    async def add(self, *args: Any, **kw: Any) -> list[int]:
        return await asyncio.to_thread(self.entries.add, *args, **kw)

    async def stop(self, timeout: float | None = None) -> None:
        await self.runner.stop(timeout)
        if not self.closed:
            self.closed = True
            self.entries.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.runner, name)
