"""Message ids reserved before the commit, and the recovery of files whose
delivery never committed (postel.store.msgids, AccountStore.recover)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from pathlib import Path

import pytest

from postel.datadir import DataDir
from postel.store.account import INDEX_DB, AccountStore, Delivery
from postel.store.msgids import IDS_SUFFIX
from postel.store.store import Store

MSG = b"From: a@example.org\r\nSubject: hi\r\n\r\nbody\r\n"


def message_files(acc: AccountStore) -> list[Path]:
    return sorted(p for p in (acc.dir / "msg").rglob("*") if p.is_file())


def orphans(acc: AccountStore) -> list[Path]:
    d = acc.dir / "orphans"
    return sorted(d.iterdir()) if d.is_dir() else []


def place(acc: AccountStore, msgid: int, data: bytes = MSG) -> Path:
    path = acc.new_message_path(msgid)
    path.write_bytes(data)
    return path


def test_reserved_ids_are_delivered_with_their_file(acc: AccountStore) -> None:
    with acc.reserve_ids(2) as ids:
        assert ids[1] == ids[0] + 1
        paths = [place(acc, i, MSG + str(i).encode()) for i in ids]
        results = acc.deliver_many(
            [Delivery("Inbox", p, msgid=i) for p, i in zip(paths, ids, strict=True)]
        )
    msgs = [r for r in results if not isinstance(r, Exception)]
    assert [m.msgid for m in msgs] == ids and [m.uid for m in msgs] == [1, 2]
    assert acc.message_path(ids[0]).read_bytes() == MSG + str(ids[0]).encode()
    assert acc.check() == []


def test_failed_reserved_delivery_removes_its_file(acc: AccountStore) -> None:
    with acc.reserve_ids(1) as (msgid,):
        path = place(acc, msgid)
        (result,) = acc.deliver_many([Delivery("Inbox", path, flags=["\\Bogus"], msgid=msgid)])
    assert isinstance(result, Exception)
    assert not path.exists() and acc.list_messages("Inbox") == []


def test_ids_unique_across_stores_and_threads(datadir: DataDir) -> None:
    # Two AccountStores of one account hold their own file descriptors, as two
    # processes do; each is used by several threads.
    stores = [Store(datadir), Store(datadir)]
    accs = [s.account("alice") for s in stores]
    errors: list[BaseException] = []

    def work(acc: AccountStore) -> None:
        try:
            for _ in range(15):
                acc.deliver_bytes("Inbox", MSG)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(accs[i % 2],)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    msgs = accs[0].list_messages("Inbox", limit=1000)
    assert len({m.msgid for m in msgs}) == 90
    assert len(message_files(accs[0])) == 90
    assert accs[0].check() == []
    for s in stores:
        s.close()


def test_lost_or_stale_counter_never_reuses_an_id(datadir: DataDir) -> None:
    with Store(datadir) as store:
        acc = store.account("alice")
        last = acc.deliver_bytes("Inbox", MSG).msgid
        counter = acc.dir / (INDEX_DB + IDS_SUFFIX)
    counter.unlink()  # e.g. a restored backup (the counter is not copied)
    with Store(datadir) as store:
        assert store.account("alice").deliver_bytes("Inbox", MSG).msgid == last + 1
    counter.write_bytes(bytes(16))  # behind the index (a counter that lost writes)
    with Store(datadir) as store:
        acc = store.account("alice")
        assert acc.deliver_bytes("Inbox", MSG).msgid == last + 2
        assert acc.check() == []


def test_recover_moves_aside_files_without_rows_once(acc: AccountStore) -> None:
    kept = acc.deliver_bytes("Inbox", MSG)
    with acc.reserve_ids(2) as ids:  # a delivery that never commits
        lost = [place(acc, i, b"never acknowledged") for i in ids]
    later = acc.deliver_bytes("Inbox", MSG)
    assert acc.recover() == 2
    assert [p.exists() for p in lost] == [False, False]
    assert [p.read_bytes() for p in orphans(acc)] == [b"never acknowledged"] * 2
    assert message_files(acc) == [acc.message_path(kept.msgid), acc.message_path(later.msgid)]
    assert acc.recover() == 0  # that range is done
    assert acc.check() == []


def test_recover_leaves_deliveries_in_flight_alone(datadir: DataDir) -> None:
    with Store(datadir) as one, Store(datadir) as other:
        acc = one.account("alice")
        with acc.reserve_ids(1) as (msgid,):
            path = place(acc, msgid)
            assert other.account("alice").recover() == 0  # in flight: not touched
            assert acc.recover() == 0  # not even by its own process
            (msg,) = acc.deliver_many([Delivery("Inbox", path, msgid=msgid)])
        assert not isinstance(msg, Exception) and path.exists()
        assert other.account("alice").recover() == 0  # committed: nothing to move
        assert orphans(acc) == [] and acc.check() == []


def _die_before_commit(root: str, ready: multiprocessing.synchronize.Event) -> None:
    acc = Store(DataDir(Path(root))).account("alice")
    with acc.reserve_ids(1) as (msgid,):
        place(acc, msgid, b"cut short")
        ready.set()
        os.kill(os.getpid(), signal.SIGKILL)


def _hold_in_flight(
    root: str, ready: multiprocessing.synchronize.Event, release: multiprocessing.synchronize.Event
) -> None:
    acc = Store(DataDir(Path(root))).account("alice")
    with acc.reserve_ids(1) as (msgid,):
        path = place(acc, msgid, b"slow")
        ready.set()
        release.wait(30)
        (msg,) = acc.deliver_many([Delivery("Inbox", path, msgid=msgid)])
        assert not isinstance(msg, Exception)


def test_recover_after_a_process_was_killed(datadir: DataDir) -> None:
    ctx = multiprocessing.get_context("spawn")
    with Store(datadir) as store:
        acc = store.account("alice")
        # A process holding a reservation: its file is not touched.
        ready, release = ctx.Event(), ctx.Event()
        slow = ctx.Process(target=_hold_in_flight, args=(str(datadir.root), ready, release))
        slow.start()
        assert ready.wait(60)
        assert acc.recover() == 0
        release.set()
        slow.join(60)
        assert slow.exitcode == 0
        # A process killed between placing its file and the commit.
        ready = ctx.Event()
        killed = ctx.Process(target=_die_before_commit, args=(str(datadir.root), ready))
        killed.start()
        killed.join(60)
        assert killed.exitcode == -signal.SIGKILL and ready.is_set()
        assert store.recover_all() == 1
        assert [p.read_bytes() for p in orphans(acc)] == [b"cut short"]
        (msg,) = acc.list_messages("Inbox")
        assert message_files(acc) == [acc.message_path(msg.msgid)]
        assert acc.message_path(msg.msgid).read_bytes() == b"slow"
        assert acc.check() == []


@pytest.mark.parametrize("count", [0, 1, 1500])
def test_recover_scans_every_bucket_of_the_range(acc: AccountStore, count: int) -> None:
    with acc.reserve_ids(count + 1) as ids:
        pass  # reserved, never used: no files
    first = acc.deliver_bytes("Inbox", MSG)
    assert first.msgid == ids[-1] + 1
    stray = place(acc, ids[-1], b"stray")  # in the last bucket of the range
    assert acc.recover() == 1 and not stray.exists()
