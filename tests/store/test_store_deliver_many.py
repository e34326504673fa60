"""AccountStore.deliver_many (one transaction for several files) and the
cross-process writer lock (flock on index.db-lock)."""

from __future__ import annotations

import errno
import fcntl
import os
import threading
import time
from pathlib import Path

import pytest

import postel.store.placing as account_mod
from postel.datadir import DataDir
from postel.store import AccountStore, InvalidFlag, MailboxExists, Store
from postel.store.account import LOCK_FILE, Delivery
from postel.store.envelope import parse_envelope, read_header_block

MSG = (
    b"From: Alice <alice@example.org>\r\n"
    b"To: bob@example.org\r\n"
    b"Subject: hello\r\n"
    b"Message-ID: <m1@example.org>\r\n"
    b"\r\n"
    b"Hello\r\n"
)


def source(datadir: DataDir, name: str, data: bytes = MSG) -> Path:
    path = datadir.tmp / name
    path.write_bytes(data)
    return path


def files_under(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file())


def test_deliver_many_in_order_with_consecutive_uids(acc: AccountStore, datadir: DataDir) -> None:
    srcs = [source(datadir, f"s{i}", MSG + str(i).encode()) for i in range(5)]
    results = acc.deliver_many([Delivery("inbox", s) for s in srcs])
    assert all(not isinstance(r, Exception) for r in results)
    msgs = [r for r in results if not isinstance(r, Exception)]
    assert [m.uid for m in msgs] == [1, 2, 3, 4, 5]
    assert [m.mailbox for m in msgs] == ["Inbox"] * 5
    for m, s in zip(msgs, srcs, strict=True):
        assert acc.message_path(m.msgid).read_bytes() == s.read_bytes()
        assert acc.get(m.msgid) == m
    assert acc.mailbox("Inbox").total == 5
    assert acc.check() == []


def test_one_bad_delivery_does_not_fail_the_others(
    acc: AccountStore, datadir: DataDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    good1, bad_io, good2 = (source(datadir, n) for n in ("g1", "bad", "g2"))
    real_link = os.link

    def link(src: str, dst: str) -> None:
        if str(src).endswith("/bad"):
            raise OSError(errno.EIO, "I/O error")
        real_link(src, dst)

    monkeypatch.setattr(account_mod.os, "link", link)
    results = acc.deliver_many(
        [
            Delivery("Inbox", good1),
            Delivery("Inbox", datadir.tmp / "missing"),  # fails before the transaction
            Delivery("Inbox", good1, flags=["\\Bogus"]),  # invalid flag
            Delivery("Inbox", bad_io),  # fails after its row was inserted
            Delivery("Archive", good2, flags=["\\Seen"]),
        ]
    )
    assert isinstance(results[1], FileNotFoundError)
    assert isinstance(results[2], InvalidFlag)
    assert isinstance(results[3], OSError) and results[3].errno == errno.EIO
    first, last = results[0], results[4]
    assert not isinstance(first, Exception) and not isinstance(last, Exception)
    assert first.uid == 1 and last.uid == 1 and last.seen
    assert acc.mailbox("Inbox").uidnext == 2  # the failed one's uid was rolled back
    assert len(files_under(acc.dir / "msg")) == 2
    assert acc.check() == []
    # The next delivery continues normally.
    again = acc.deliver("Inbox", good2)
    assert again.uid == 2 and again.msgid == last.msgid + 1


def test_given_size_and_envelope_are_used(acc: AccountStore, datadir: DataDir) -> None:
    src = source(datadir, "s")
    with open(src, "rb") as fp:
        env = parse_envelope(read_header_block(fp))
    (given,) = acc.deliver_many([Delivery("Inbox", src, size=len(MSG), envelope=env)])
    read = acc.deliver("Inbox", src)
    assert not isinstance(given, Exception)
    assert given.subject == read.subject == "hello"
    assert (given.from_, given.to, given.message_id, given.size) == (
        read.from_,
        read.to,
        read.message_id,
        read.size,
    )


def test_new_mailbox_created_once_in_a_batch(acc: AccountStore, datadir: DataDir) -> None:
    src = source(datadir, "s")
    results = acc.deliver_many([Delivery("Lists/a", src), Delivery("Lists/a", src)])
    assert [r.uid for r in results if not isinstance(r, Exception)] == [1, 2]
    assert acc.mailbox("Lists/a").total == 2
    assert acc.check() == []


def test_lock_file_next_to_index(acc: AccountStore) -> None:
    assert (acc.dir / LOCK_FILE).is_file()
    assert LOCK_FILE == "index.db-lock"


def _held_lock(acc: AccountStore) -> int:
    fd = os.open(acc.dir / LOCK_FILE, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


@pytest.mark.parametrize("op", ["deliver", "create_mailbox", "set_flags"])
def test_writers_wait_for_the_lock(acc: AccountStore, datadir: DataDir, op: str) -> None:
    """Another holder of the lock (another process's AccountStore) makes every
    write transaction wait; it goes ahead once the lock is released."""
    src = source(datadir, "s")
    first = acc.deliver("Inbox", src)
    fd = _held_lock(acc)
    done = threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        try:
            if op == "deliver":
                acc.deliver("Inbox", src)
            elif op == "create_mailbox":
                acc.create_mailbox("New")
            else:
                acc.set_flags(first.msgid, add=["\\Seen"])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        done.set()

    t = threading.Thread(target=write)
    t.start()
    try:
        assert not done.wait(0.3)
        with Store(datadir) as other:  # readers (another process) are not blocked
            assert other.account("alice").mailbox("Inbox").total == 1
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    assert done.wait(10)
    t.join()
    assert errors == []
    if op == "deliver":
        assert acc.mailbox("Inbox").total == 2
    elif op == "create_mailbox":
        assert acc.mailbox("New").total == 0
    else:
        assert acc.get(first.msgid).seen


def test_lock_released_after_failed_transaction(acc: AccountStore, datadir: DataDir) -> None:
    with pytest.raises(MailboxExists):
        acc.create_mailbox("Inbox")  # exists: the write transaction fails
    fd = os.open(acc.dir / LOCK_FILE, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # would raise if still held
    finally:
        os.close(fd)


def test_two_stores_of_one_account_interleave(datadir: DataDir) -> None:
    """Two AccountStores of one account (as in two worker processes) deliver
    concurrently: every message gets its own uid, counters stay right."""
    a, b = Store(datadir), Store(datadir)
    try:
        accs = [a.account("alice"), b.account("alice")]
        src = source(datadir, "s")
        errors: list[BaseException] = []

        def worker(acc: AccountStore) -> None:
            try:
                for _ in range(25):
                    acc.deliver("Inbox", src)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(acc,)) for acc in accs for _ in range(2)]
        start = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert time.monotonic() - start < 60
        msgs = accs[0].list_messages("Inbox", limit=1000)
        assert sorted(m.uid for m in msgs) == list(range(1, 101))
        assert accs[1].check() == []
    finally:
        a.close()
        b.close()


def test_lock_file_is_a_known_file_for_verifydata(acc: AccountStore, datadir: DataDir) -> None:
    from postel.verifydata.files import known_static

    assert acc.dir / LOCK_FILE in known_static(datadir.root)
