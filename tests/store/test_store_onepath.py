"""Every message that lands in a mailbox takes the store's one path: a Job of
the Store's DeliveryBatcher (store/batching.py), whoever delivers it."""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import stat
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from postel.config import Config, load_config
from postel.delivery.localonly import LOCALSERVE_MAILBOX, deliver_local
from postel.delivery.request import DeliveryRequest
from postel.queue import OutcomeRecorder, QueueRunner, QueueSubmitter, SQLiteQueueEntries
from postel.reportfindings import Settings
from postel.reportfindings.service import local_deliver
from postel.smtpserver.submit import LocalSubmitter
from postel.store import Store, StoreError
from postel.store.accountbase import LOCK_FILE
from postel.store.batching import DeliveryBatcher
from postel.store.jobs import Job
from postel.store.placing import Placing

MSG = b"From: carol@example.org\r\nSubject: one path\r\nMessage-ID: <p@x>\r\n\r\nHello.\r\n"

STATIC = """
hostname = "mail.example.org"
postmaster_account = "alice"
"""

DOMAINS = """
[domains."example.org"]
[domains."example.org".aliases]
team = ["alice@example.org", "bob@example.org"]

[accounts.alice]
domain = "example.org"
addresses = ["alice@example.org"]

[accounts.bob]
domain = "example.org"
addresses = ["bob@example.org"]
"""


@dataclass
class Seen:
    """The jobs handed to any DeliveryBatcher, as (targets, written by the batcher)."""

    jobs: list[tuple[list[tuple[str, str]], bool]]


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> Seen:
    record = Seen([])
    real = DeliveryBatcher.submit

    def submit(self: DeliveryBatcher, jobs: list[Job]) -> None:
        record.jobs.extend((list(j.targets), j.write is not None) for j in jobs)
        real(self, jobs)

    monkeypatch.setattr(DeliveryBatcher, "submit", submit)
    return record


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    d = tmp_path / "config"
    d.mkdir()
    (d / "postel.toml").write_text(STATIC)
    (d / "domains.toml").write_text(DOMAINS)
    config = load_config(d)
    config.datadir.ensure()
    return config


@pytest.fixture
def store(cfg: Config) -> Iterator[Store]:
    s = Store(cfg.datadir)
    yield s
    s.close()


def source(tmp_path: Path) -> Path:
    path = tmp_path / "message"
    path.write_bytes(MSG)
    return path


def contents(store: Store, account: str, mailbox: str) -> list[bytes]:
    acc = store.account(account)
    return [acc.message_path(m.msgid).read_bytes() for m in acc.list_messages(mailbox)]


async def test_submission_to_local_recipients_is_one_job(
    seen: Seen, cfg: Config, store: Store, tmp_path: Path
) -> None:
    await LocalSubmitter(cfg, store)(
        "alice", "alice@example.org", ["team@example.org"], source(tmp_path), False
    )
    assert seen.jobs == [([("alice", "Inbox"), ("bob", "Inbox")], False)]
    assert contents(store, "alice", "Inbox") == contents(store, "bob", "Inbox") == [MSG]


async def test_queue_submitter_local_recipients_are_one_job(
    seen: Seen, cfg: Config, store: Store, tmp_path: Path
) -> None:
    entries = SQLiteQueueEntries(cfg.datadir)
    try:
        await QueueSubmitter(cfg, entries, store)(
            "alice",
            "alice@example.org",
            ["bob@example.org", "alice@example.org"],
            source(tmp_path),
            True,
        )
    finally:
        entries.close()
    assert seen.jobs == [([("bob", "Inbox"), ("alice", "Inbox")], False)]
    [msg] = store.account("bob").list_messages("Inbox")
    assert msg.requiretls


async def test_dsn_to_a_local_sender_is_a_job(seen: Seen, cfg: Config, store: Store) -> None:
    entries = SQLiteQueueEntries(cfg.datadir)
    recorder = OutcomeRecorder(entries, None, store)
    queue = QueueRunner(cfg, entries, None, recorder, store)  # type: ignore[arg-type]

    class Msg:
        sender_account = "bob"
        mail_from = "bob@example.org"
        id = 1

    try:
        await queue._deliver_dsn(Msg(), MSG)  # type: ignore[arg-type]
    finally:
        await queue.stop(timeout=1)
        entries.close()
    assert seen.jobs == [([("bob", "Inbox")], True)]
    assert contents(store, "bob", "Inbox") == [MSG]
    assert [p.name for p in cfg.datadir.tmp.iterdir()] == []  # its temporary file is gone


async def test_findings_digest_is_a_job(seen: Seen, store: Store) -> None:
    settings = Settings(
        ours=(), known=(), hostname="mail.example.org", digest_to="",
        postmaster_account="alice", postmaster_mailbox="Postmaster", sender_localpart="postmaster",
    )  # fmt: skip
    await local_deliver(store, settings)("", MSG)
    assert seen.jobs == [([("alice", "Postmaster")], True)]
    assert contents(store, "alice", "Postmaster") == [MSG]


def test_localserve_catch_all_is_a_job(
    seen: Seen, cfg: Config, store: Store, tmp_path: Path
) -> None:
    req = DeliveryRequest(
        domain="remote.test",
        mail_from="alice@example.org",
        rcpts=["someone@remote.test"],
        message=source(tmp_path),
        sender_account="alice",
    )
    deliver_local(cfg, store, req, logging.getLogger("postel.test"))
    assert seen.jobs == [([("alice", LOCALSERVE_MAILBOX)], False)]
    assert contents(store, "alice", LOCALSERVE_MAILBOX) == [MSG]


def test_append_keeps_flags_keywords_and_internal_date(seen: Seen, store: Store) -> None:
    """IMAP APPEND and the webmail's Sent and Drafts (RFC 9051 §6.3.12)."""
    when = datetime(2024, 2, 29, 23, 59, 58, tzinfo=UTC)
    acc = store.account("alice")
    msg = acc.append("Drafts", MSG, ["\\Seen", "\\Draft", "$Work"], when)
    assert seen.jobs == [([("alice", "Drafts")], True)]
    assert msg.mailbox == "Drafts" and msg.received == when
    assert msg.flags == {"\\Seen", "\\Draft"} and msg.keywords == {"$Work"}
    assert acc.get(msg.msgid) == msg
    assert acc.message_path(msg.msgid).read_bytes() == MSG
    sent = acc.append("Sent", MSG, requiretls=True)
    assert sent.requiretls and sent.flags == frozenset()


async def test_sync_and_async_callers_share_one_transaction(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An SMTP delivery, a webmail append from a thread and a submission that
    wait together are stored in one transaction of the account."""
    acc = store.account("alice")
    batches: list[int] = []
    real = Placing._deliver_now

    def counting(self: Placing, deliveries: list[object]) -> object:
        batches.append(len(deliveries))
        return real(self, deliveries)  # type: ignore[arg-type]

    monkeypatch.setattr(Placing, "_deliver_now", counting)
    # Another process holds the writer lock: the first batch waits for it.
    fd = os.open(acc.dir / LOCK_FILE, os.O_RDWR)

    fcntl.flock(fd, fcntl.LOCK_EX)
    first = asyncio.create_task(store.deliver_bytes([("alice", "Inbox")], MSG))
    while not batches:
        await asyncio.sleep(0.01)
    appended = asyncio.create_task(asyncio.to_thread(acc.append, "Sent", MSG))
    smtp = asyncio.create_task(
        store.write_and_deliver([("alice", "Inbox")], tmp_path / "final", b"X: 1\r\n", MSG)
    )
    submitted = asyncio.create_task(store.deliver_file([("alice", "Inbox")], source(tmp_path)))
    while store.batcher._queue.qsize() < 3:
        await asyncio.sleep(0.01)
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)
    results = await asyncio.gather(first, smtp, submitted)
    assert all(err is None for _, err in results)
    assert (await appended).mailbox == "Sent"
    assert batches == [1, 3]
    assert acc.mailbox("Inbox").total == 3 and acc.check() == []


def test_every_store_owns_its_path(cfg: Config) -> None:
    """No registry shared between stores: closing one store refuses its own
    deliveries only; another store of the same data directory delivers on."""
    one, two = Store(cfg.datadir), Store(cfg.datadir)
    try:
        assert one.batcher is not two.batcher
        one.account("alice").deliver_bytes("Inbox", MSG)
        alice_one = one.account("alice")
        one.close()
        with pytest.raises(StoreError):
            alice_one.deliver_bytes("Inbox", MSG)
        assert two.account("alice").deliver_bytes("Inbox", MSG).uid == 2
        assert not one.batcher.running
        names = [t.name for t in threading.enumerate()]
        assert names.count("postel-delivery") <= 1
    finally:
        one.close()
        two.close()


async def test_new_message_files_are_owner_only(store: Store, tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        done, err = await store.write_and_deliver(
            [("alice", "Inbox")], tmp_path / "final", b"X: 1\r\n", MSG
        )
    finally:
        os.umask(old)
    assert err is None
    path = store.account("alice").message_path(done[0][1].msgid)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
