"""Removed UIDs kept per mailbox for VANISHED (EARLIER) (RFC 7162 §3.2.10):
bounded, trimmed oldest first, with the floor below which the list is partial;
on the SQLite and the PostgreSQL store (fixture ``account``)."""

from __future__ import annotations

import sqlite3
from collections.abc import Coroutine

from schemahistory import undo_vanished_floor

from postel.datadir import DataDir
from postel.store import AccountStore, Store
from postel.store.account import INDEX_DB
from postel.store.api import AccountMail
from postel.store.changes import VANISHED_KEEP
from postel.store.schema import MIGRATIONS

MSG = b"From: a@example.org\r\nTo: b@example.org\r\nSubject: s\r\n\r\nbody\r\n"


def _pg(account: AccountMail, sql: str) -> int:
    """One number read by *sql* (naming the account's id as %s) from the
    PostgreSQL account behind *account* (a PgAccountMail)."""
    from postel.pg.accountmail import PgAccountMail
    from postel.pg.accountstore import PgAccount
    from postel.pg.rows import col_int

    assert isinstance(account, PgAccountMail)

    async def read(a: PgAccount) -> int:
        async with a.pool.connection() as conn:
            cur = await conn.execute(sql, (a.id,))
            row = await cur.fetchone()
        assert row is not None
        return col_int(row[0])

    def call(a: PgAccount) -> Coroutine[object, object, int]:
        return read(a)

    return account._run(call)


def set_keep(account: AccountMail, keep: int) -> None:
    if isinstance(account, AccountStore):
        account.vanished_keep = keep
        return
    from postel.pg.accountmail import PgAccountMail

    assert isinstance(account, PgAccountMail)
    account.mailboxes()  # the account is looked up at the first call
    assert account._account is not None
    account._account.vanished_keep = keep


def kept_rows(account: AccountMail) -> int:
    if isinstance(account, AccountStore):
        return int(account._conn.execute("SELECT count(*) FROM vanished").fetchone()[0])
    return _pg(
        account,
        "SELECT count(*) FROM vanished v JOIN mailbox b ON b.id = v.mailbox_id "
        "WHERE b.account_id = %s",
    )


def inbox_floor(account: AccountMail) -> int:
    if isinstance(account, AccountStore):
        sql = "SELECT vanished_floor FROM mailbox WHERE name = 'Inbox'"
        return int(account._conn.execute(sql).fetchone()[0])
    return _pg(
        account, "SELECT vanished_floor FROM mailbox WHERE account_id = %s AND name = 'Inbox'"
    )


def test_the_default_keeps_ten_thousand() -> None:
    from postel.pg.accountstore import PgAccount

    assert VANISHED_KEEP == 10_000
    assert PgAccount(None, "alice", 1).vanished_keep == VANISHED_KEEP  # type: ignore[arg-type]


def test_many_removals_keep_the_table_bounded(account: AccountMail) -> None:
    acc = account
    set_keep(acc, 20)  # trimmed back to 20 once past 22
    msgs = [acc.deliver_bytes("Inbox", MSG) for _ in range(100)]
    high = 0
    for msg in msgs[:90]:
        acc.remove(msg.msgid)
        high = max(high, kept_rows(acc))
    assert high <= 22
    assert 20 <= kept_rows(acc) <= 22
    # The newest removals are the ones kept, and the list is complete after
    # the floor: a client that saw the 70th removal learns the 20 after it.
    seen = acc.changes_since("Inbox", 0)
    assert not seen.vanished_complete
    assert seen.vanished[-1] == msgs[89].uid
    floor = inbox_floor(acc)
    assert floor > 0
    recent = acc.changes_since("Inbox", floor)
    assert recent.vanished_complete
    assert recent.vanished == [
        m.uid for m in msgs[:90] if m.uid > msgs[89].uid - len(recent.vanished)
    ]
    assert acc.check() == []
    # Another mailbox keeps its own list, untrimmed.
    other = acc.deliver_bytes("Archive", MSG)
    acc.remove(other.msgid)
    archive = acc.changes_since("Archive", 0)
    assert archive.vanished == [other.uid] and archive.vanished_complete


def test_one_large_expunge_stays_bounded(account: AccountMail) -> None:
    acc = account
    set_keep(acc, 10)
    msgs = [acc.deliver_bytes("Inbox", MSG) for _ in range(40)]
    for msg in msgs:
        acc.set_flags(msg.msgid, add=["\\Deleted"])
    base = acc.highest_modseq()
    assert len(acc.expunge("Inbox")) == 40
    # All removed in one transaction (one modseq): trimmed as a whole, the floor
    # is that modseq and every client before it is told the list is partial.
    assert kept_rows(acc) <= 11
    assert not acc.changes_since("Inbox", base).vanished_complete
    assert acc.changes_since("Inbox", acc.highest_modseq()).vanished_complete
    assert acc.check() == []


def test_moves_out_are_trimmed_too(account: AccountMail) -> None:
    acc = account
    set_keep(acc, 10)
    msgs = [acc.deliver_bytes("Inbox", MSG) for _ in range(30)]
    for msg in msgs:
        acc.move(msg.msgid, "Archive")
    assert 10 <= kept_rows(acc) <= 11
    assert not acc.changes_since("Inbox", 0).vanished_complete
    assert acc.check() == []


def test_check_finds_a_wrong_count(acc: AccountStore) -> None:
    msg = acc.deliver_bytes("Inbox", MSG)
    acc.remove(msg.msgid)
    acc._conn.execute("UPDATE mailbox SET vanished_rows = 5")
    acc._conn.commit()
    assert any("counts 5 removed UIDs but keeps 1" in p for p in acc.check())


def test_an_index_of_the_release_before_counts_its_removed_uids(datadir: DataDir) -> None:
    store = Store(datadir)
    acc = store.account("alice")
    msgs = [acc.deliver_bytes("Inbox", MSG) for _ in range(3)]
    acc.remove(msgs[0].msgid)
    acc.remove(msgs[1].msgid)
    path = acc.dir / INDEX_DB
    store.close()
    conn = sqlite3.connect(path)
    undo_vanished_floor(conn)
    conn.close()

    store = Store(datadir)
    try:
        acc = store.account("alice")
        assert acc._conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        row = acc._conn.execute(
            "SELECT vanished_rows, vanished_floor FROM mailbox WHERE name = 'Inbox'"
        ).fetchone()
        assert tuple(row) == (2, 0)
        since = acc.changes_since("Inbox", 0)
        assert since.vanished == [msgs[0].uid, msgs[1].uid] and since.vanished_complete
        assert acc.check() == []
    finally:
        store.close()
