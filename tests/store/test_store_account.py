"""AccountStore and Store: delivery, durability, listing, flags, mailboxes."""

from __future__ import annotations

import errno
import os
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

import postel.store.placing as account_mod
from postel.datadir import DataDir, message_path
from postel.store import (
    AccountStore,
    InvalidFlag,
    InvalidMailboxName,
    MailboxExists,
    MailboxNotFound,
    MessageNotFound,
    Store,
    StoreError,
    UnknownAccount,
)
from postel.store.schema import list_sql

MSG = (
    b"From: Alice <alice@example.org>\r\n"
    b"To: Bob <bob@example.org>, carol@example.org\r\n"
    b"Cc: dave@example.org\r\n"
    b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n"
    b"Date: Tue, 02 Jan 2024 10:00:00 +0100\r\n"
    b"Message-ID: <m1@example.org>\r\n"
    b"In-Reply-To: <m0@example.org>\r\n"
    b"\r\n"
    b"Hello\r\n"
)


def write_source(datadir: DataDir, data: bytes, name: str = "src") -> Path:
    path = datadir.tmp / name
    path.write_bytes(data)
    return path


def files_under(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file())


# -- delivery ------------------------------------------------------------


def test_default_mailboxes_created(acc: AccountStore) -> None:
    names = [m.name for m in acc.mailboxes()]
    assert names == ["Inbox", "Sent", "Drafts", "Archive", "Junk", "Trash"]
    uidvalidities = [m.uidvalidity for m in acc.mailboxes()]
    assert len(set(uidvalidities)) == 6
    assert all(m.uidnext == 1 and m.total == 0 for m in acc.mailboxes())


def test_deliver_links_file_and_parses_envelope(acc: AccountStore, datadir: DataDir) -> None:
    src = write_source(datadir, MSG)
    received = datetime(2024, 1, 2, 9, 30, tzinfo=UTC)
    msg = acc.deliver("Inbox", src, received=received, requiretls=True)
    assert msg.uid == 1 and msg.mailbox == "Inbox"
    assert msg.size == len(MSG)
    assert msg.subject == "Grüße"
    assert msg.from_ == "Alice <alice@example.org>"
    assert msg.to == "Bob <bob@example.org>, carol@example.org"
    assert msg.cc == "dave@example.org"
    assert msg.message_id == "<m1@example.org>"
    assert msg.in_reply_to == "<m0@example.org>"
    assert msg.date == datetime(2024, 1, 2, 9, 0, tzinfo=UTC)
    assert msg.received == received
    assert msg.requiretls is True
    assert msg.flags == frozenset()
    path = acc.message_path(msg.msgid)
    assert path == message_path(acc.dir, msg.msgid)
    assert path.read_bytes() == MSG
    # A hard link: the same inode as the source, which is left in place.
    assert os.stat(path).st_ino == os.stat(src).st_ino
    assert src.exists()
    with acc.open_message(msg.msgid) as fp:
        assert fp.read() == MSG
    assert acc.get(msg.msgid) == msg


def test_deliver_bytes_leaves_no_temp_file(acc: AccountStore, datadir: DataDir) -> None:
    msg = acc.deliver_bytes("Inbox", MSG, flags=["\\Seen"], keywords=["$Forwarded"])
    assert msg.flags == {"\\Seen"} and msg.keywords == {"$Forwarded"}
    assert list(datadir.tmp.iterdir()) == []
    assert acc.message_path(msg.msgid).read_bytes() == MSG
    info = acc.mailbox("Inbox")
    assert (info.total, info.unseen, info.size, info.uidnext) == (1, 0, len(MSG), 2)


def test_deliver_creates_missing_mailbox(acc: AccountStore) -> None:
    msg = acc.deliver_bytes("TLSRPT", MSG)
    assert msg.mailbox == "TLSRPT" and msg.uid == 1
    assert "TLSRPT" in [m.name for m in acc.mailboxes()]


def test_uids_increase_and_msgids_are_never_reused(acc: AccountStore) -> None:
    a = acc.deliver_bytes("Inbox", MSG)
    b = acc.deliver_bytes("Inbox", MSG)
    acc.remove(b.msgid)
    c = acc.deliver_bytes("Inbox", MSG)
    assert (a.uid, b.uid, c.uid) == (1, 2, 3)
    assert c.msgid > b.msgid
    assert acc.check() == []


def test_deliver_copies_across_file_systems(
    acc: AccountStore, datadir: DataDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_link(src: object, dst: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(account_mod.os, "link", no_link)
    src = write_source(datadir, MSG)
    msg = acc.deliver("Inbox", src)
    path = acc.message_path(msg.msgid)
    assert path.read_bytes() == MSG
    assert os.stat(path).st_ino != os.stat(src).st_ino


def test_failure_after_link_before_commit_leaves_nothing(
    acc: AccountStore, datadir: DataDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = write_source(datadir, MSG)
    placed: list[Path] = []
    real_fsync_dir = account_mod.fsync_dir

    def failing_commit(conn: sqlite3.Connection) -> None:
        # The file is linked at this point; then the commit fails.
        placed.extend(files_under(acc.dir / "msg"))
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(account_mod, "_commit", failing_commit)
    with pytest.raises(sqlite3.OperationalError):
        acc.deliver("Inbox", src)
    assert len(placed) == 1  # the link had happened
    assert files_under(acc.dir / "msg") == []  # and was removed again
    assert acc.list_messages("Inbox") == []
    assert acc.mailbox("Inbox").uidnext == 1
    assert src.exists()

    # Failing at the directory fsync (after the commit, which ran while the
    # file was fsynced): the delivery fails and is taken back; its UID is
    # used up and recorded as vanished, never given to another message.
    monkeypatch.undo()

    def failing_fsync(path: Path) -> None:
        if path.parent.name == "msg":
            raise OSError(errno.EIO, "fsync failed")
        real_fsync_dir(path)

    monkeypatch.setattr(account_mod, "fsync_dir", failing_fsync)
    with pytest.raises(OSError):
        acc.deliver("Inbox", src)
    assert files_under(acc.dir / "msg") == []
    assert acc.list_messages("Inbox") == []
    monkeypatch.undo()

    # The store still works and is consistent afterwards.
    msg = acc.deliver("Inbox", src)
    assert msg.uid == 2
    assert acc.changes_since("Inbox", 1).vanished == [1]
    assert acc.check() == []


def test_crash_leftover_file_is_moved_aside(acc: AccountStore, datadir: DataDir) -> None:
    # A crash between link and commit leaves a file where the next id goes.
    first = acc.deliver_bytes("Inbox", MSG)
    stale = message_path(acc.dir, first.msgid + 1)
    stale.write_bytes(b"never acknowledged")
    msg = acc.deliver_bytes("Inbox", MSG)
    assert msg.msgid == first.msgid + 1
    assert acc.message_path(msg.msgid).read_bytes() == MSG
    aside = list((acc.dir / "orphans").iterdir())
    assert len(aside) == 1 and aside[0].read_bytes() == b"never acknowledged"


def test_invalid_flags_rejected_before_anything_is_written(
    acc: AccountStore, datadir: DataDir
) -> None:
    src = write_source(datadir, MSG)
    with pytest.raises(InvalidFlag):
        acc.deliver("Inbox", src, flags=["\\Bogus"])
    with pytest.raises(InvalidFlag):
        acc.deliver("Inbox", src, keywords=["\\Seen"])
    with pytest.raises(InvalidFlag):
        acc.deliver("Inbox", src, keywords=["has space"])
    assert acc.list_messages("Inbox") == []
    assert not (acc.dir / "msg").exists() or files_under(acc.dir / "msg") == []


def test_bad_headers_do_not_fail_delivery(acc: AccountStore) -> None:
    data = b"From: <<<\r\nDate: yesterday\r\nSubject: \xff\xfe bad\r\nTo: ,,,@\r\n\r\nbody"
    msg = acc.deliver_bytes("Inbox", data)
    assert msg.date is None
    assert "bad" in msg.subject
    assert acc.get(msg.msgid).size == len(data)


# -- listing -------------------------------------------------------------


def test_list_messages_pages_in_uid_order(acc: AccountStore) -> None:
    ids = [acc.deliver_bytes("Inbox", MSG).msgid for _ in range(7)]
    newest = acc.list_messages("Inbox", limit=3)
    assert [m.uid for m in newest] == [7, 6, 5]
    assert [m.uid for m in acc.list_messages("Inbox", offset=3, limit=3)] == [4, 3, 2]
    assert [m.uid for m in acc.list_messages("Inbox", cursor=5, limit=3)] == [4, 3, 2]
    oldest = acc.list_messages("Inbox", limit=3, newest_first=False)
    assert [m.msgid for m in oldest] == ids[:3]
    assert [m.uid for m in acc.list_messages("Inbox", newest_first=False, cursor=5)] == [6, 7]
    assert acc.list_messages("inbox", offset=100) == []
    with pytest.raises(MailboxNotFound):
        acc.list_messages("Nope")
    with pytest.raises(StoreError):
        acc.list_messages("Inbox", limit=-1)


def _fill(acc: AccountStore, mailbox: str, n: int) -> None:
    """Insert *n* index rows directly (the plan does not depend on files)."""
    conn = acc._conn
    mailbox_id = acc.mailbox(mailbox).id
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO message (mailbox_id, uid, size, received) VALUES (?, ?, 100, ?)",
        ((mailbox_id, uid, "2024-01-01T00:00:00+00:00") for uid in range(1, n + 1)),
    )
    conn.execute(
        "UPDATE mailbox SET uidnext = ?, total = ?, unseen = ?, size = ? WHERE id = ?",
        (n + 1, n, n, 100 * n, mailbox_id),
    )
    conn.execute("COMMIT")
    conn.execute("ANALYZE")


def test_pagination_with_100k_messages_uses_the_index(acc: AccountStore) -> None:
    _fill(acc, "Inbox", 100_000)
    _fill(acc, "Archive", 1_000)
    inbox_id = acc.mailbox("Inbox").id
    for newest_first in (True, False):
        for cursor in (False, True):
            sql = list_sql(newest_first=newest_first, cursor=cursor)
            params: list[int] = [inbox_id] + ([50_000] if cursor else []) + [50, 0]
            plan = [
                str(r["detail"]) for r in acc._conn.execute("EXPLAIN QUERY PLAN " + sql, params)
            ]
            text = " | ".join(plan)
            assert "USING INDEX message_mailbox_uid" in text, text
            assert "TEMP B-TREE" not in text, text  # no sort step
            assert not any(d.startswith("SCAN") for d in plan), text
    page = acc.list_messages("Inbox", cursor=50_000, limit=50)
    assert [m.uid for m in page] == list(range(49_999, 49_949, -1))
    assert acc.mailbox("Inbox").total == 100_000
    assert acc.check() == []


# -- flags, move, remove -------------------------------------------------


def test_set_flags_updates_unseen_counter(acc: AccountStore) -> None:
    msg = acc.deliver_bytes("Inbox", MSG)
    assert acc.mailbox("Inbox").unseen == 1
    updated = acc.set_flags(msg.msgid, add=["\\seen", "\\Flagged", "$Junk"])
    assert updated.flags == {"\\Seen", "\\Flagged"}
    assert updated.keywords == {"$Junk"}
    assert acc.mailbox("Inbox").unseen == 0
    updated = acc.set_flags(msg.msgid, add=["\\Seen"])  # idempotent
    assert acc.mailbox("Inbox").unseen == 0
    updated = acc.set_flags(msg.msgid, remove=["\\Seen", "$Junk"])
    assert updated.flags == {"\\Flagged"} and updated.keywords == frozenset()
    assert acc.mailbox("Inbox").unseen == 1
    with pytest.raises(MessageNotFound):
        acc.set_flags(9999, add=["\\Seen"])
    assert acc.check() == []


def test_move_gives_new_uid_and_keeps_file(acc: AccountStore) -> None:
    a = acc.deliver_bytes("Inbox", MSG)
    b = acc.deliver_bytes("Inbox", MSG, flags=["\\Seen"])
    acc.deliver_bytes("Archive", MSG)
    path = acc.message_path(b.msgid)
    moved = acc.move(b.msgid, "Archive")
    assert moved.mailbox == "Archive" and moved.uid == 2 and moved.msgid == b.msgid
    assert acc.message_path(b.msgid) == path and path.read_bytes() == MSG
    inbox, archive = acc.mailbox("Inbox"), acc.mailbox("Archive")
    assert (inbox.total, inbox.unseen, inbox.uidnext) == (1, 1, 3)
    assert (archive.total, archive.unseen, archive.uidnext) == (2, 1, 3)
    assert acc.move(a.msgid, "Inbox").uid == a.uid  # same mailbox: unchanged
    with pytest.raises(MailboxNotFound):
        acc.move(a.msgid, "Nowhere")
    assert acc.get_by_uid("Archive", 2).msgid == b.msgid
    assert acc.check() == []


def test_remove_deletes_row_then_file(acc: AccountStore) -> None:
    msg = acc.deliver_bytes("Inbox", MSG)
    path = acc.message_path(msg.msgid)
    acc.remove(msg.msgid)
    assert not path.exists()
    with pytest.raises(MessageNotFound):
        acc.get(msg.msgid)
    with pytest.raises(MessageNotFound):
        acc.remove(msg.msgid)
    assert acc.mailbox("Inbox").total == 0
    assert acc.check() == []


def test_expunge_removes_deleted_only(acc: AccountStore) -> None:
    keep = acc.deliver_bytes("Inbox", MSG)
    gone = acc.deliver_bytes("Inbox", MSG, flags=["\\Deleted", "\\Seen"])
    assert acc.expunge("Inbox") == [gone.msgid]
    assert [m.msgid for m in acc.list_messages("Inbox")] == [keep.msgid]
    assert not message_path(acc.dir, gone.msgid).exists()
    info = acc.mailbox("Inbox")
    assert (info.total, info.unseen, info.size) == (1, 1, len(MSG))
    assert acc.check() == []


# -- mailboxes -----------------------------------------------------------


def test_mailbox_create_rename_delete(acc: AccountStore) -> None:
    created = acc.create_mailbox("Projects")
    acc.create_mailbox("Projects/2024")
    with pytest.raises(MailboxExists):
        acc.create_mailbox("Projects")
    with pytest.raises(MailboxExists):
        acc.create_mailbox("INBOX")
    msg = acc.deliver_bytes("Projects/2024", MSG)
    renamed = acc.rename_mailbox("Projects", "Work")
    assert renamed.uidvalidity == created.uidvalidity
    names = {m.name for m in acc.mailboxes()}
    assert {"Work", "Work/2024"} <= names and "Projects" not in names
    assert acc.get(msg.msgid).mailbox == "Work/2024"
    with pytest.raises(StoreError):
        acc.rename_mailbox("Inbox", "Other")
    with pytest.raises(StoreError):
        acc.rename_mailbox("Work", "inbox")
    with pytest.raises(MailboxExists):
        acc.rename_mailbox("Work", "Sent")
    with pytest.raises(MailboxNotFound):
        acc.rename_mailbox("Nope", "Other")
    assert acc.delete_mailbox("Work/2024") == 1
    assert not message_path(acc.dir, msg.msgid).exists()
    with pytest.raises(StoreError):
        acc.delete_mailbox("INBOX")
    with pytest.raises(MailboxNotFound):
        acc.delete_mailbox("Work/2024")
    # Re-created mailboxes get a new, higher UIDVALIDITY (RFC 9051 §2.3.1.1).
    again = acc.create_mailbox("Work/2024")
    assert again.uidvalidity > max(m.uidvalidity for m in acc.mailboxes() if m.name != "Work/2024")
    for bad in ("", "a//b", "/a", "a/", " a", "a*", "a\x00b", "x" * 201):
        with pytest.raises(InvalidMailboxName):
            acc.create_mailbox(bad)


def test_inbox_name_is_case_insensitive(acc: AccountStore) -> None:
    msg = acc.deliver_bytes("INBOX", MSG)
    assert msg.mailbox == "Inbox"
    assert len(acc.list_messages("inbox")) == 1


# -- domain security, stats, persistence ---------------------------------


def test_domain_security_memory(acc: AccountStore) -> None:
    unknown = acc.domain_security("example.net")
    assert (unknown.starttls, unknown.requiretls, unknown.updated) == (None, None, None)
    acc.remember_domain_security("Example.NET.", starttls=True, requiretls=None)
    known = acc.domain_security("example.net")
    assert (known.starttls, known.requiretls) == (True, None)
    assert known.updated is not None
    acc.remember_domain_security("example.net", starttls=None, requiretls=False)
    assert acc.domain_security("EXAMPLE.net").starttls is True
    assert acc.domain_security("example.net").requiretls is False
    acc.remember_domain_security("bücher.example", starttls=False, requiretls=False)
    assert acc.domain_security("xn--bcher-kva.example").starttls is False


def test_stats(acc: AccountStore) -> None:
    acc.deliver_bytes("Inbox", MSG)
    acc.deliver_bytes("Sent", MSG + b"more")
    stats = acc.stats()
    assert stats.messages == 2
    assert stats.message_bytes == 2 * len(MSG) + 4
    assert stats.index_bytes > 0
    assert stats.disk_usage == stats.message_bytes + stats.index_bytes
    assert stats.mailboxes == 6


def test_reopen_keeps_everything(datadir: DataDir) -> None:
    with Store(datadir) as store:
        acc = store.account("alice")
        msg = acc.deliver_bytes("Inbox", MSG, flags=["\\Seen"])
        acc.create_mailbox("Keep")
        before = acc.mailboxes()
    with Store(datadir) as store:
        acc = store.account("alice", create=False)
        assert acc.get(msg.msgid) == msg
        assert acc.mailboxes() == before
        assert acc.check() == []


def test_check_reports_broken_invariants(acc: AccountStore) -> None:
    acc.deliver_bytes("Inbox", MSG)
    acc._conn.execute("UPDATE mailbox SET uidnext = 1, total = 5 WHERE name = 'Inbox'")
    problems = acc.check()
    assert any("uidnext" in p for p in problems)
    assert any("counters" in p for p in problems)


def test_store_caches_and_validates_accounts(datadir: DataDir) -> None:
    with Store(datadir, accounts={"alice", "bob"}) as store:
        assert store.account("alice") is store.account("alice")
        with pytest.raises(UnknownAccount):
            store.account("mallory")
        with pytest.raises(UnknownAccount):
            store.account("../etc")
        with pytest.raises(UnknownAccount):
            store.account("bob", create=False)
        store.account("bob")
        assert store.account_names() == ["alice", "bob"]
    with pytest.raises(StoreError):
        store.account("alice")


def test_closed_account_refuses_use(acc: AccountStore) -> None:
    acc.close()
    with pytest.raises(StoreError):
        acc.mailboxes()


def test_concurrent_deliveries_from_threads(acc: AccountStore) -> None:
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(20):
                acc.deliver_bytes("Inbox", MSG)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    msgs = acc.list_messages("Inbox", limit=1000)
    assert sorted(m.uid for m in msgs) == list(range(1, 101))
    assert len(files_under(acc.dir / "msg")) == 100
    assert acc.check() == []
