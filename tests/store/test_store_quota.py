"""Per-account quotas (domains.toml ``quota``, bytes) enforced in the store's
one delivery path: a delivery beyond the quota fails with OverQuota, inside
a batch too, whatever the caller; on the SQLite and the PostgreSQL store
(fixture ``qaccounts``), and across two nodes of one PostgreSQL database."""

from __future__ import annotations

import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from postel.datadir import DataDir
from postel.store import OverQuota, Store
from postel.store.account import Delivery
from postel.store.api import Accounts

T = TypeVar("T")


def message(n: int, size: int = 400) -> bytes:
    head = f"From: a@example.net\r\nSubject: m{n}\r\nMessage-ID: <q{n}@example.net>\r\n\r\n"
    return head.encode() + b"x" * (size - len(head) - 2) + b"\r\n"


@pytest.fixture
def quotas() -> dict[str, int]:
    return {"alice": 1000}


@pytest.fixture
def qstore(tmp_path: Path, quotas: dict[str, int]) -> Store:
    s = Store(DataDir(tmp_path / "data"), quota=lambda name: quotas.get(name, 0))
    yield s  # type: ignore[misc]
    s.close()


@dataclass
class QAccounts:
    """The accounts of one backend, and a runner of their coroutines on the
    event loop their store belongs to (a thread of its own)."""

    accounts: Accounts
    loop: object

    def run(self, coro: Coroutine[object, object, T]) -> T:
        from pg.pghelpers import LoopThread

        assert isinstance(self.loop, LoopThread)
        return self.loop.run(coro)


@pytest.fixture(params=["sqlite", "postgresql"])
def qaccounts(
    request: pytest.FixtureRequest, tmp_path: Path, quotas: dict[str, int]
) -> Iterator[QAccounts]:
    from pg.pghelpers import LoopThread

    lt = LoopThread()
    try:
        if request.param == "sqlite":
            store = Store(DataDir(tmp_path / "data"), quota=lambda name: quotas.get(name, 0))
            yield QAccounts(store, lt)
            store.close()
            return
        nodes = _pg_nodes(request, tmp_path, quotas, [lt])
        yield nodes[0]
        _close_pg_nodes(nodes)
    finally:
        lt.stop()


def _pg_nodes(
    request: pytest.FixtureRequest, tmp_path: Path, quotas: dict[str, int], loops: list[object]
) -> list[QAccounts]:
    """One PgAccounts per loop, each over a pool of its own: the nodes of one database."""
    from pg.pghelpers import LoopThread, open_migrated, settings_for
    from postel.pg.accountstore import PgStore
    from postel.pg.nodeparts import PgAccounts

    settings = settings_for(
        request.getfixturevalue("pg_cluster"), request.getfixturevalue("pg_database")
    )
    nodes = []
    for n, lt in enumerate(loops):
        assert isinstance(lt, LoopThread)
        pool = lt.run(open_migrated(settings))
        store = PgStore(pool, quota=lambda name: quotas.get(name, 0))
        nodes.append(QAccounts(PgAccounts(store, lt.loop, tmp_path / f"bodies{n}"), lt))
    return nodes


def _close_pg_nodes(nodes: list[QAccounts]) -> None:
    from postel.pg.nodeparts import PgAccounts

    for node in nodes:
        assert isinstance(node.accounts, PgAccounts)
        node.run(node.accounts.store.pool.close())


def test_delivery_beyond_the_quota_fails(qaccounts: QAccounts, quotas: dict[str, int]) -> None:
    qstore = qaccounts.accounts
    acc = qstore.account("alice")
    acc.deliver_bytes("Inbox", message(1))
    acc.deliver_bytes("Inbox", message(2))
    assert acc.usage() == 800
    with pytest.raises(OverQuota) as info:
        acc.deliver_bytes("Inbox", message(3))
    assert (info.value.used, info.value.quota, info.value.size) == (800, 1000, 400)
    assert not info.value.full and "alice" in str(info.value)
    assert acc.mailbox("Inbox").total == 2  # nothing left behind
    acc.deliver_bytes("Inbox", message(4, size=200))  # what fits still goes in
    assert acc.usage() == 1000
    assert qstore.check_quota(["alice"]) is not None  # full: no message fits
    quotas["alice"] = 0  # no quota: anything goes (a reload applies at once)
    acc.deliver_bytes("Inbox", message(5))
    assert qstore.check_quota(["alice"], 10**9) is None


def test_accounts_without_quota_are_not_limited(qaccounts: QAccounts) -> None:
    bob = qaccounts.accounts.account("bob")
    for n in range(5):
        bob.deliver_bytes("Inbox", message(n))
    assert bob.usage() == 2000


def test_a_batch_counts_its_own_deliveries(qstore: Store, tmp_path: Path) -> None:
    acc = qstore.account("alice")
    files = []
    for n in range(3):
        p = tmp_path / f"m{n}"
        p.write_bytes(message(n))
        files.append(p)
    results = acc.deliver_many([Delivery("Inbox", p) for p in files])
    assert [isinstance(r, OverQuota) for r in results] == [False, False, True]
    assert acc.mailbox("Inbox").total == 2


def test_check_quota_names_the_first_account_without_room(qaccounts: QAccounts) -> None:
    qstore = qaccounts.accounts
    qstore.account("alice").deliver_bytes("Inbox", message(1, size=900))
    assert qstore.check_quota(["bob", "alice"], 50) is None
    over = qstore.check_quota(["bob", "alice"], 200)
    assert over is not None and over.account == "alice" and not over.full
    assert qstore.quota_of("alice") == 1000 and qstore.quota_of("bob") == 0


def test_every_path_of_the_batcher_is_limited(qaccounts: QAccounts) -> None:
    """The event-loop entry points (SMTP, queue, DSNs) stop at the quota."""
    qstore = qaccounts.accounts
    qaccounts.run(qstore.deliver_bytes([("alice", "Inbox")], message(1, size=900)))
    delivered, error = qaccounts.run(
        qstore.deliver_bytes([("bob", "Inbox"), ("alice", "Inbox")], message(2))
    )
    assert [a for a, _ in delivered] == ["bob"]
    assert isinstance(error, OverQuota) and error.account == "alice"
    assert qstore.account("alice").mailbox("Inbox").total == 1


def test_copy_and_append_beyond_the_quota_fail(qaccounts: QAccounts) -> None:
    """IMAP's COPY and APPEND (RFC 9208 §4.3: NO [OVERQUOTA]) are limited too."""
    acc = qaccounts.accounts.account("alice")
    first = acc.deliver_bytes("Inbox", message(1, size=600))
    with pytest.raises(OverQuota):
        acc.copy(first.msgid, "Archive")
    with pytest.raises(OverQuota):
        acc.append("Archive", message(2, size=500), [], None)
    acc.append("Archive", message(3, size=400), [], None)
    assert acc.usage() == 1000 and acc.mailbox("Archive").total == 1


def test_a_delivery_through_one_node_counts_on_another(
    request: pytest.FixtureRequest, tmp_path: Path, quotas: dict[str, int]
) -> None:
    """Two nodes (each its pool and loop) on one PostgreSQL database: what
    node A stores is counted by node B's check and B's delivery, and two
    deliveries racing for the last room through both nodes store one."""
    from pg.pghelpers import LoopThread

    loops = [LoopThread(), LoopThread()]
    nodes = _pg_nodes(request, tmp_path, quotas, list(loops))
    try:
        a, b = nodes
        a.run(a.accounts.deliver_bytes([("alice", "Inbox")], message(1, size=700)))
        over = b.accounts.check_quota(["alice"], 400)
        assert over is not None and (over.used, over.quota) == (700, 1000)
        assert b.accounts.check_quota(["alice"], 300) is None
        _, error = b.run(b.accounts.deliver_bytes([("alice", "Inbox")], message(2)))
        assert isinstance(error, OverQuota) and error.used == 700
        # 300 bytes left: two messages of 200 delivered at once through A and B.
        results: list[object] = []

        def deliver(node: QAccounts, n: int) -> None:
            results.append(
                node.run(node.accounts.deliver_bytes([("alice", "Inbox")], message(n, size=200)))
            )

        threads = [threading.Thread(target=deliver, args=(n, 10 + i)) for i, n in enumerate(nodes)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        errors = [err for _, err in results]  # type: ignore[misc]
        assert sorted(type(e).__name__ for e in errors) == ["NoneType", "OverQuota"]
        assert a.accounts.account("alice").usage() == 900
        assert b.accounts.check_quota(["alice"]) is None  # 100 bytes: not full
    finally:
        _close_pg_nodes(nodes)
        for lt in loops:
            lt.stop()
