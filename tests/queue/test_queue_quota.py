"""A DSN for an account over its quota: dropped with a log
line, never bounced or queued again (no loop)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from queue_env import Clock, FakeDeliverer, QEnv, perm, write_config

from postel.config import load_config
from postel.store import Store


@pytest.fixture
async def full(tmp_path: Path) -> AsyncIterator[QEnv]:
    """The queue's environment with alice's account at its quota."""
    cfg = load_config(write_config(tmp_path / "config"))
    cfg.datadir.ensure()
    quotas = {"alice": 0}
    store = Store(cfg.datadir, quota=lambda name: quotas.get(name, 0))
    acc = store.account("alice")
    acc.deliver_bytes("Inbox", b"Subject: filler\r\n\r\n" + b"x" * 2000 + b"\r\n")
    quotas["alice"] = acc.usage()
    env = QEnv(tmp_path, cfg, store, Clock(), FakeDeliverer())
    try:
        yield env
    finally:
        for q in env.queues:
            if not q.closed:
                await q.stop(timeout=1)
        store.close()


async def test_dsn_to_an_account_over_quota_is_dropped(
    full: QEnv, caplog: pytest.LogCaptureFixture
) -> None:
    full.deliverer.decide = perm
    q = full.queue()
    await q.add("alice", "alice@example.org", ["bob@remote.test"], full.message_file())
    with caplog.at_level(logging.WARNING, logger="postel.queue"):
        await q.run_due()
    assert q.db.entries() == [] and full.queue_files() == []  # nothing queued again
    assert len(full.inbox("alice")) == 1  # the filler only
    assert "dsn dropped: recipient account over quota" in caplog.text
    assert "cannot send dsn" not in caplog.text
