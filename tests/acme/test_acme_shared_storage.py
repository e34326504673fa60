"""The renewal loop on storage shared by several nodes (postel.acme.storage.
CertStorage): a node orders only while it holds the order lock, and not when
another node's order came in meanwhile. The CA here is unreachable, so an
order attempted would count a failure."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest

from postel.acme.challenges import Challenges
from postel.acme.client import Settings
from postel.acme.manager import ACMEManager
from postel.acme.rollover import Published
from postel.acme.storage import CertStore

NAMES = ["mail.example.org"]


class OtherNodes:
    """CertStorage over a CertStore whose order lock another node may hold, and
    whose pull() reports the changes given in *pulls*, one per call."""

    def __init__(self, root: Path, *, lock_free: bool, pulls: list[bool]) -> None:
        self._files = CertStore(root)
        self.lock_free = lock_free
        self.pulls = pulls
        self.published = 0
        self.locked = 0

    @property
    def files(self) -> CertStore:
        return self._files

    async def setup(self, names: list[str]) -> None:
        self._files.ensure(names)

    async def pull(self) -> bool:
        return self.pulls.pop(0) if self.pulls else False

    async def publish(self) -> None:
        self.published += 1

    def exclusive(self) -> AbstractAsyncContextManager[bool]:
        return self._exclusive()

    @asynccontextmanager
    async def _exclusive(self) -> AsyncIterator[bool]:
        self.locked += 1
        yield self.lock_free

    async def follow(self, on_change: Callable[[], None]) -> None:
        return None


async def make(tmp_path: Path, storage: OtherNodes, tlsa: Published | None = None) -> ACMEManager:
    await storage.setup(NAMES)

    async def check(digest: str) -> Published:
        assert tlsa is not None
        return tlsa

    return ACMEManager(
        Settings("https://127.0.0.1:1/dir"),
        storage,
        lambda: list(NAMES),
        Challenges(),
        retry_min=7,
        retry_max=9,
        tlsa_check=check if tlsa is not None else None,
        rollover_min_wait=dt.timedelta(0),
    )


async def test_no_order_while_another_node_holds_the_lock(tmp_path: Path) -> None:
    storage = OtherNodes(tmp_path, lock_free=False, pulls=[])
    m = await make(tmp_path, storage)
    assert await m.step() == 7  # the placeholder needs an order: look again soon
    assert storage.locked == 1
    assert m.failures == 0 and m.last_error is None and m.issued == 0
    assert storage.published == 0


async def test_no_order_when_another_node_s_order_came_in(tmp_path: Path) -> None:
    storage = OtherNodes(tmp_path, lock_free=True, pulls=[False, True])
    m = await make(tmp_path, storage)
    assert await m.step() == 0.0  # look again at once, at the new certificates
    assert m.failures == 0 and m.issued == 0


async def test_the_node_holding_the_lock_orders(tmp_path: Path) -> None:
    storage = OtherNodes(tmp_path, lock_free=True, pulls=[])
    m = await make(tmp_path, storage)
    await m.step()
    assert m.failures == 1 and "cannot reach the CA" in (m.last_error or "")
    assert storage.published == 0  # nothing new to share


async def test_no_key_rollover_switch_while_another_node_holds_the_lock(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    storage = OtherNodes(tmp_path, lock_free=False, pulls=[])
    m = await make(tmp_path, storage, Published(present=True, ttl=0))
    assert storage.files.start_rollover("ecdsa")
    with caplog.at_level(logging.ERROR, logger="postel.acme"):
        await m._rollover("ecdsa", NAMES, dt.datetime.now(dt.UTC))
    assert not [r for r in caplog.records if "rollover" in r.getMessage()]
    assert storage.files.pending_rollovers() == ["ecdsa"] and m.rollovers == 0
