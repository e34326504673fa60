"""Fixtures of the queue tests; the helpers live in queue_env.py (importable by
name without clashing with other test directories' conftest modules)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from queue_env import Clock, FakeDeliverer, QEnv, write_config

from postel.config import load_config
from postel.store import Store


@pytest.fixture
async def qenv(tmp_path: Path) -> AsyncIterator[QEnv]:
    cfg = load_config(write_config(tmp_path / "config"))
    cfg.datadir.ensure()
    store = Store(cfg.datadir)
    env = QEnv(tmp_path, cfg, store, Clock(), FakeDeliverer())
    try:
        yield env
    finally:
        for q in env.queues:
            if not q.closed:
                await q.stop(timeout=1)
        store.close()
