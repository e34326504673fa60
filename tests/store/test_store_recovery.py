"""The recovery pass (store/recovery.py): rows whose file a crash cut short."""

from __future__ import annotations

import logging
import sqlite3

import pytest
from schemahistory import undo_recovery_checkpoint

from postel.datadir import DataDir, message_path
from postel.store import Store
from postel.store.account import AccountStore
from postel.store.recovery import CHECKPOINT_KEY, checkpoint

MSG = b"From: a@example.org\r\nTo: alice@example.org\r\nSubject: s\r\n\r\nbody\r\n"


def deliver(acc: AccountStore, n: int) -> list[int]:
    return [acc.deliver_bytes("Inbox", MSG + b"x" * i).msgid for i in range(n)]


def test_rows_without_their_whole_file_are_removed_and_logged(
    acc: AccountStore, caplog: pytest.LogCaptureFixture
) -> None:
    ids = deliver(acc, 4)
    modseq = acc.highest_modseq()
    # A crash between the commit and the files' fsync: one file lost, one short.
    message_path(acc.dir, ids[1]).unlink()
    with open(message_path(acc.dir, ids[2]), "r+b") as f:
        f.truncate(10)
    with caplog.at_level(logging.WARNING, logger="postel.store"):
        done = acc.recover()
    assert (done.checked, done.removed, done.checkpoint) == (4, [ids[1], ids[2]], ids[3])
    lines = [r for r in caplog.records if "removed" in r.getMessage()]
    assert [(r.account, r.msgid, r.file) for r in lines] == [  # type: ignore[attr-defined]
        ("alice", ids[1], "missing"),
        ("alice", ids[2], "short"),
    ]
    assert [m.uid for m in acc.list_messages("Inbox", newest_first=False)] == [1, 4]
    box = acc.mailbox("Inbox")
    assert (box.total, box.uidnext) == (2, 5)  # UIDs 2 and 3 are never given again
    changes = acc.changes_since("Inbox", modseq)
    assert changes.vanished == [2, 3]  # CONDSTORE/QRESYNC clients see them go
    assert changes.highestmodseq > modseq
    assert not message_path(acc.dir, ids[2]).exists()
    assert acc.check() == []
    assert acc.deliver_bytes("Inbox", MSG).uid == 5


def test_only_rows_above_the_checkpoint_are_looked_at(acc: AccountStore) -> None:
    ids = deliver(acc, 3)
    assert acc.recover().checkpoint == ids[-1]
    # Below the checkpoint nothing is examined again: a start after a clean
    # stop costs nothing, however large the store.
    message_path(acc.dir, ids[0]).unlink()
    again = acc.recover()
    assert (again.checked, again.removed) == (0, [])
    (new,) = deliver(acc, 1)
    later = acc.recover()
    assert (later.checked, later.removed, later.checkpoint) == (1, [], new)


def test_store_recovers_every_account_on_disk(store: Store) -> None:
    a = deliver(store.account("alice"), 2)
    b = deliver(store.account("bob"), 2)
    message_path(store.account("bob").dir, b[0]).unlink()
    done = {r.account: r for r in store.recover()}
    assert set(done) == {"alice", "bob"}
    assert done["alice"].removed == [] and done["alice"].checkpoint == a[-1]
    assert done["bob"].removed == [b[0]]


def test_existing_mail_is_below_the_checkpoint_after_the_upgrade(datadir: DataDir) -> None:
    # Mail stored before this schema was made durable file first: the
    # migration puts all of it below the checkpoint.
    with Store(datadir) as store:
        ids = deliver(store.account("alice"), 3)
    db = datadir.account_dir("alice") / "index.db"
    conn = sqlite3.connect(db)
    undo_recovery_checkpoint(conn)
    conn.close()
    with Store(datadir) as store:
        acc = store.account("alice")
        assert checkpoint(acc._conn) == ids[-1]
        assert acc.recover().checked == 0


def test_recovery_is_quick_for_a_large_store(acc: AccountStore) -> None:
    # 20,000 rows below the checkpoint (inserted directly: files are not
    # looked at below it), a few above: only those few are checked.
    conn = acc._conn
    box = conn.execute("SELECT id FROM mailbox WHERE name = 'Inbox'").fetchone()[0]
    conn.executemany(
        "INSERT INTO message (mailbox_id, uid, size, received, thread_id) VALUES (?, ?, 1, '', 0)",
        [(box, 1000 + i) for i in range(20_000)],
    )
    conn.execute(
        "UPDATE meta SET value = (SELECT MAX(id) FROM message) WHERE key = ?", (CHECKPOINT_KEY,)
    )
    conn.commit()
    deliver(acc, 2)
    assert acc.recover().checked == 2


def test_advancing_the_checkpoint_while_running_removes_nothing(acc: AccountStore) -> None:
    ids = deliver(acc, 4)
    # A row whose file is not whole while the server runs is left for the
    # pass at the next start: the checkpoint stops below it.
    message_path(acc.dir, ids[2]).unlink()
    done = acc.advance_checkpoint()
    assert (done.removed, done.checkpoint) == ([], ids[1])
    assert len(acc.list_messages("Inbox")) == 4
    assert acc.recover().removed == [ids[2]]
    assert checkpoint(acc._conn) == ids[3]
