"""Per-account quotas (domains.toml ``quota``, bytes) enforced in the store's
one delivery path: a delivery beyond the quota fails with OverQuota, inside
a batch too, whatever the caller."""

from __future__ import annotations

from pathlib import Path

import pytest

from postel.datadir import DataDir
from postel.store import OverQuota, Store
from postel.store.account import Delivery


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


def test_delivery_beyond_the_quota_fails(qstore: Store, quotas: dict[str, int]) -> None:
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


def test_accounts_without_quota_are_not_limited(qstore: Store) -> None:
    bob = qstore.account("bob")
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


def test_check_quota_names_the_first_account_without_room(qstore: Store) -> None:
    qstore.account("alice").deliver_bytes("Inbox", message(1, size=900))
    assert qstore.check_quota(["bob", "alice"], 50) is None
    over = qstore.check_quota(["bob", "alice"], 200)
    assert over is not None and over.account == "alice" and not over.full
    assert qstore.quota_of("alice") == 1000 and qstore.quota_of("bob") == 0


async def test_every_path_of_the_batcher_is_limited(qstore: Store) -> None:
    """The event-loop entry points (SMTP, queue, DSNs) stop at the quota."""
    await qstore.deliver_bytes([("alice", "Inbox")], message(1, size=900))
    delivered, error = await qstore.deliver_bytes(
        [("bob", "Inbox"), ("alice", "Inbox")], message(2)
    )
    assert [a for a, _ in delivered] == ["bob"]
    assert isinstance(error, OverQuota) and error.account == "alice"
