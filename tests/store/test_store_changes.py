"""Modification sequences (RFC 7162) and the changes each commit publishes."""

from __future__ import annotations

import gc
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest
from schemahistory import undo_modseq

import postel.store.accountbase as accountbase_mod
import postel.store.messages as messages_mod
import postel.store.placing as placing_mod
from postel.datadir import DataDir
from postel.store import AccountStore, MailboxExists, Store
from postel.store.account import INDEX_DB, Delivery
from postel.store.changes import Change, ChangeKind
from postel.store.schema import MIGRATIONS

MSG = b"From: a@example.org\r\nTo: b@example.org\r\nSubject: s\r\n\r\nbody\r\n"


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, list[Change]]] = []

    def __call__(self, account: str, changes: Sequence[Change]) -> None:
        self.calls.append((account, list(changes)))

    def take(self) -> list[Change]:
        out = [c for _, calls in self.calls for c in calls]
        self.calls.clear()
        return out


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


@pytest.fixture
def racc(datadir: DataDir, rec: Recorder) -> AccountStore:
    store = Store(datadir, publish=rec)
    acc = store.account("alice")
    rec.calls.clear()  # the default mailboxes
    yield acc  # type: ignore[misc]
    store.close()


def modseq_of(acc: AccountStore, mailbox: str, uid: int) -> int:
    row = acc._conn.execute(
        "SELECT m.modseq FROM message m JOIN mailbox b ON b.id = m.mailbox_id "
        "WHERE b.name = ? AND m.uid = ?",
        (mailbox, uid),
    ).fetchone()
    return int(row[0])


def test_every_change_takes_a_new_modseq_in_its_transaction(
    racc: AccountStore, rec: Recorder
) -> None:
    acc = racc
    start = acc.highest_modseq()
    m1 = acc.deliver_bytes("Inbox", MSG)
    (c,) = rec.take()
    assert c == Change(ChangeKind.ADDED, "Inbox", start + 1, m1.uid)
    assert modseq_of(acc, "Inbox", m1.uid) == start + 1
    assert acc.mailbox("Inbox").highestmodseq == start + 1

    acc.set_flags(m1.msgid, add=["\\Seen"])
    (c,) = rec.take()
    assert c == Change(ChangeKind.FLAGS, "Inbox", start + 2, m1.uid)
    assert modseq_of(acc, "Inbox", m1.uid) == start + 2 == acc.mailbox("Inbox").highestmodseq

    acc.set_flags(m1.msgid, add=["\\Seen"])  # no change: no modseq, nothing published
    assert rec.take() == [] and acc.highest_modseq() == start + 2

    acc.create_mailbox("Work")
    (c,) = rec.take()
    assert c == Change(ChangeKind.MAILBOX_CREATED, "Work", start + 3)
    assert acc.mailbox("Work").highestmodseq == start + 3

    moved = acc.move(m1.msgid, "Work")
    assert rec.take() == [
        Change(ChangeKind.REMOVED, "Inbox", start + 4, m1.uid),
        Change(ChangeKind.ADDED, "Work", start + 4, moved.uid),
    ]
    assert acc.mailbox("Inbox").highestmodseq == acc.mailbox("Work").highestmodseq == start + 4

    acc.rename_mailbox("Work", "Play")
    assert rec.take() == [Change(ChangeKind.MAILBOX_RENAMED, "Play", start + 5, old_name="Work")]

    acc.remove(moved.msgid)
    assert rec.take() == [Change(ChangeKind.REMOVED, "Play", start + 6, moved.uid)]

    m2 = acc.deliver_bytes("Inbox", MSG)
    m3 = acc.deliver_bytes("Inbox", MSG, flags=["\\Deleted"])
    rec.take()
    acc.set_flags(m2.msgid, add=["\\Deleted"])
    rec.take()
    assert acc.expunge("Inbox") == [m2.msgid, m3.msgid]
    assert rec.take() == [
        Change(ChangeKind.REMOVED, "Inbox", start + 10, m2.uid),
        Change(ChangeKind.REMOVED, "Inbox", start + 10, m3.uid),
    ]

    acc.delete_mailbox("Play")
    assert rec.take() == [Change(ChangeKind.MAILBOX_DELETED, "Play", start + 11)]
    assert acc.highest_modseq() == start + 11
    assert acc.check() == []


def test_rolled_back_transactions_publish_nothing(
    racc: AccountStore, rec: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    acc = racc
    m = acc.deliver_bytes("Inbox", MSG)
    rec.take()
    start = acc.highest_modseq()
    acc.create_mailbox("A")
    acc.create_mailbox("B")
    rec.take()
    with pytest.raises(MailboxExists):
        acc.rename_mailbox("A", "B")  # refused inside its transaction
    assert rec.take() == []

    def failing_commit(conn: sqlite3.Connection) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    # The write transaction's commit, and the delivery batch's.
    monkeypatch.setattr(accountbase_mod, "_commit", failing_commit)
    monkeypatch.setattr(placing_mod, "_commit", failing_commit)
    with pytest.raises(sqlite3.OperationalError):
        acc.set_flags(m.msgid, add=["\\Flagged"])
    with pytest.raises(sqlite3.OperationalError):
        acc.deliver_bytes("Inbox", MSG)
    monkeypatch.undo()
    assert rec.take() == []
    assert acc.highest_modseq() == start + 2  # the two creations only
    assert acc.get(m.msgid).flags == frozenset()
    assert acc.changes_since("Inbox", start).changed == []


def test_failed_delivery_in_a_batch_is_not_published(
    racc: AccountStore, rec: Recorder, datadir: DataDir
) -> None:
    good = datadir.tmp / "good"
    good.write_bytes(MSG)
    results = racc.deliver_many(
        [
            Delivery("New/Box", good),
            Delivery("Inbox", datadir.tmp / "missing"),
            Delivery("Inbox", good),
        ]
    )
    assert isinstance(results[1], Exception)
    changes = rec.take()
    modseq = racc.highest_modseq()
    assert changes == [
        Change(ChangeKind.MAILBOX_CREATED, "New/Box", modseq),
        Change(ChangeKind.ADDED, "New/Box", modseq, 1),
        Change(ChangeKind.ADDED, "Inbox", modseq, 1),
    ]


def test_changes_since_lists_changed_messages_and_vanished_uids(racc: AccountStore) -> None:
    acc = racc
    msgs = [acc.deliver_bytes("Inbox", MSG) for _ in range(5)]
    base = acc.highest_modseq()
    acc.set_flags(msgs[1].msgid, add=["\\Seen"])
    acc.remove(msgs[2].msgid)
    acc.move(msgs[3].msgid, "Archive")
    new = acc.deliver_bytes("Inbox", MSG)
    since = acc.changes_since("inbox", base)
    assert [(m.uid, m.modseq) for m in since.changed] == [
        (msgs[1].uid, base + 1),
        (new.uid, base + 4),
    ]
    assert since.changed[0].flags == frozenset({"\\Seen"})
    assert since.vanished == [msgs[2].uid, msgs[3].uid]
    assert since.highestmodseq == base + 4
    assert since.uidvalidity == acc.mailbox("Inbox").uidvalidity
    # Since a later modseq: only what came after (RFC 7162 §3.2.10).
    later = acc.changes_since("Inbox", base + 2)
    assert later.vanished == [msgs[3].uid]
    assert [m.uid for m in later.changed] == [new.uid]
    assert acc.changes_since("Inbox", base + 4).changed == []
    archive = acc.changes_since("Archive", base)
    assert [m.uid for m in archive.changed] == [1] and archive.vanished == []


def test_index_of_an_earlier_release_gets_modseqs(datadir: DataDir) -> None:
    store = Store(datadir)
    acc = store.account("alice")
    kept = [acc.deliver_bytes("Inbox", MSG) for _ in range(3)]
    path = acc.dir / INDEX_DB
    store.close()
    conn = sqlite3.connect(path)
    undo_modseq(conn)
    conn.close()

    store = Store(datadir)
    try:
        acc = store.account("alice")
        assert acc._conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert acc.highest_modseq() == 1
        assert {b.highestmodseq for b in acc.mailboxes()} == {1}
        since = acc.changes_since("Inbox", 0)
        assert [(m.uid, m.modseq) for m in since.changed] == [(m.uid, 1) for m in kept]
        assert acc.changes_since("Inbox", 1).changed == []
        acc.remove(kept[0].msgid)
        assert acc.changes_since("Inbox", 1).vanished == [kept[0].uid]
        assert acc.highest_modseq() == 2
        assert acc.check() == []
    finally:
        store.close()


def test_default_store_publishes_without_a_listener(tmp_path: Path) -> None:
    """Nobody listens on the change socket: writes work as before."""
    store = Store(DataDir(tmp_path / "data"))
    try:
        acc = store.account("bob")
        acc.deliver_bytes("Inbox", MSG)
        assert acc.mailbox("Inbox").total == 1
    finally:
        store.close()


def test_changes_since_with_a_limit_keeps_the_newest(racc: AccountStore) -> None:
    msgs = [racc.deliver_bytes("Inbox", MSG) for _ in range(6)]
    since = racc.changes_since("Inbox", 0, limit=4)
    assert [m.uid for m in since.changed] == [m.uid for m in msgs[2:]]


def test_check_finds_a_modseq_above_its_mailbox(racc: AccountStore) -> None:
    m = racc.deliver_bytes("Inbox", MSG)
    assert racc.check() == []
    racc._conn.execute("UPDATE message SET modseq = modseq + 5 WHERE id = ?", (m.msgid,))
    [problem] = racc.check()
    assert "mailbox 'Inbox' HIGHESTMODSEQ" in problem


def test_store_flags_is_one_transaction_one_modseq_published_once(
    racc: AccountStore, rec: Recorder
) -> None:
    for _ in range(5):
        racc.deliver_bytes("Inbox", MSG)
    racc.set_flags(racc.get_by_uid("Inbox", 5).msgid, ["\\Seen"])
    rec.calls.clear()
    before = racc.highest_modseq()
    result = racc.store_flags("Inbox", [1, 2, 3, 5, 99], ["\\Seen", "$Work"], "add")
    assert len(rec.calls) == 1  # one commit, published once
    assert [c.uid for c in rec.calls[0][1]] == [1, 2, 3, 5]
    assert result.modseq == before + 1 == racc.highest_modseq()
    assert [m.uid for m in result.messages] == [1, 2, 3, 5]  # 99 is not there
    assert all(m.modseq == before + 1 and "\\Seen" in m.flags for m in result.messages)
    assert racc.get_by_uid("Inbox", 2).keywords == {"$Work"}
    assert racc.mailbox("Inbox").unseen == 1  # only 4 left unseen
    assert racc.mailbox("Inbox").highestmodseq == before + 1
    # Nothing to change: no write, no modseq, nothing published.
    again = racc.store_flags("Inbox", [1, 2], ["\\Seen"], "add")
    assert again.modseq == 0 and not rec.calls[1:] and racc.highest_modseq() == before + 1
    # replace and remove
    racc.store_flags("Inbox", [1], ["\\Flagged"], "replace")
    assert racc.get_by_uid("Inbox", 1).flags == {"\\Flagged"}
    racc.store_flags("Inbox", [1], ["\\Flagged"], "remove")
    assert racc.get_by_uid("Inbox", 1).flags == frozenset()
    assert racc.mailbox("Inbox").unseen == 2


def test_store_flags_unchangedsince_leaves_newer_messages_alone(racc: AccountStore) -> None:
    racc.deliver_bytes("Inbox", MSG)
    racc.deliver_bytes("Inbox", MSG)
    mark = racc.highest_modseq()
    racc.set_flags(racc.get_by_uid("Inbox", 2).msgid, ["\\Answered"])
    result = racc.store_flags("Inbox", [1, 2], ["\\Deleted"], "add", unchangedsince=mark)
    assert result.modified == [2]
    assert [m.uid for m in result.messages] == [1]
    assert "\\Deleted" not in racc.get_by_uid("Inbox", 2).flags


def test_uids_lists_a_mailbox_from_the_index(racc: AccountStore) -> None:
    for _ in range(3):
        racc.deliver_bytes("Inbox", MSG)
    racc.remove(racc.get_by_uid("Inbox", 2).msgid)
    assert list(racc.uids("Inbox")) == [1, 3]
    assert racc.get_by_uid("Inbox", 3).modseq == modseq_of(racc, "Inbox", 3)


def test_uids_reads_chunks_in_order(
    racc: AccountStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(messages_mod, "UIDS_CHUNK", 2)
    for _ in range(5):
        racc.deliver_bytes("Inbox", MSG)
    racc.remove(racc.get_by_uid("Inbox", 4).msgid)
    assert list(racc.uids("Inbox")) == [1, 2, 3, 5]
    assert list(racc.uids("Sent")) == []


def test_uids_of_a_large_mailbox_set_off_no_garbage_collection(
    racc: AccountStore, tmp_path: Path
) -> None:
    # A full collection of a server's heap takes tens of milliseconds: SELECT
    # must not allocate a collected object (a row tuple) per message.
    src = tmp_path / "m"
    src.write_bytes(MSG)
    racc.deliver_many([Delivery("Inbox", src) for _ in range(600)])
    collections = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections.append(info["generation"])

    old = gc.get_threshold()
    gc.collect()
    gc.set_threshold(100, 10, 10)
    gc.callbacks.append(count)
    try:
        uids = racc.uids("Inbox")
    finally:
        gc.callbacks.remove(count)
        gc.set_threshold(*old)
    assert list(uids) == list(range(1, 601))
    assert collections == []


def test_uids_kept_between_calls_follow_changes_made_elsewhere(
    datadir: DataDir, racc: AccountStore
) -> None:
    """The UIDs are kept while the mailbox's UIDNEXT and HIGHESTMODSEQ stay;
    a delivery, an expunge or a move by another store (another process)
    moves one of them."""
    for _ in range(3):
        racc.deliver_bytes("Inbox", MSG)
    first = racc.uids("Inbox")
    first.append(99)  # the caller's copy
    assert list(racc.uids("Inbox")) == [1, 2, 3]
    other = Store(datadir)
    try:
        acc2 = other.account("alice")
        acc2.deliver_bytes("Inbox", MSG)
        assert list(racc.uids("Inbox")) == [1, 2, 3, 4]
        acc2.remove(acc2.get_by_uid("Inbox", 2).msgid)
        assert list(racc.uids("Inbox")) == [1, 3, 4]
        acc2.move(acc2.get_by_uid("Inbox", 3).msgid, "Archive")
        assert list(racc.uids("Inbox")) == [1, 4]
        assert list(racc.uids("Archive")) == [1]
        acc2.set_flags(acc2.get_by_uid("Inbox", 4).msgid, ["\\Seen"])
        assert list(racc.uids("Inbox")) == [1, 4]
    finally:
        other.close()


def test_uids_of_an_unchanged_mailbox_are_not_read_again(racc: AccountStore) -> None:
    for _ in range(3):
        racc.deliver_bytes("Inbox", MSG)
    racc.uids("Inbox")
    statements: list[str] = []
    racc._conn.set_trace_callback(statements.append)
    try:
        assert list(racc.uids("Inbox")) == [1, 2, 3]
    finally:
        racc._conn.set_trace_callback(None)
    assert not [s for s in statements if "FROM message " in s]
