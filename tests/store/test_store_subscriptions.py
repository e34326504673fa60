"""Subscriptions (RFC 9051 §6.3.9) and special uses (RFC 6154) kept in the
account's index, and their migration onto index databases of earlier releases."""

from __future__ import annotations

import sqlite3

import pytest
from schemahistory import undo_subscriptions

from postel.datadir import DataDir
from postel.store import AccountStore, Store
from postel.store.account import INDEX_DB
from postel.store.errors import (
    InvalidMailboxName,
    MailboxExists,
    SpecialUseTaken,
    UnsupportedSpecialUse,
)
from postel.store.names import DEFAULT_MAILBOXES
from postel.store.schema import MIGRATIONS


def test_new_account_mailboxes_are_subscribed_with_their_uses(acc: AccountStore) -> None:
    assert acc.subscriptions() == sorted(DEFAULT_MAILBOXES)
    uses = {b.name: b.special_use for b in acc.mailboxes()}
    assert uses == {
        "Inbox": "", "Sent": "\\Sent", "Drafts": "\\Drafts", "Archive": "\\Archive",
        "Junk": "\\Junk", "Trash": "\\Trash",
    }  # fmt: skip


def test_subscribe_any_valid_name_and_unsubscribe_idempotently(acc: AccountStore) -> None:
    acc.subscribe("Not/Yet")
    acc.subscribe("Not/Yet")
    acc.subscribe("INBOX")  # the Inbox in any case
    acc.unsubscribe("Trash")
    acc.unsubscribe("Trash")
    assert acc.subscriptions() == ["Archive", "Drafts", "Inbox", "Junk", "Not/Yet", "Sent"]
    with pytest.raises(InvalidMailboxName):
        acc.subscribe("a*b")


def test_rename_moves_subscriptions_and_delete_keeps_them(acc: AccountStore) -> None:
    acc.create_mailbox("Work", subscribe=True)
    acc.create_mailbox("Work/2026", subscribe=True)
    acc.create_mailbox("Work/old")  # not subscribed: stays so
    assert "Work/old" not in acc.subscriptions()
    acc.rename_mailbox("Work", "Job")
    subs = acc.subscriptions()
    assert {"Job", "Job/2026"} <= set(subs) and not {"Work", "Work/2026", "Job/old"} & set(subs)
    acc.delete_mailbox("Job/2026")
    assert "Job/2026" in acc.subscriptions()


def test_special_use_is_one_mailbox_s_and_follows_renames(acc: AccountStore) -> None:
    with pytest.raises(SpecialUseTaken, match="'Sent' has special use \\\\Sent"):
        acc.create_mailbox("Sent Items", special_use="\\Sent")
    with pytest.raises(UnsupportedSpecialUse, match="\\\\All"):
        acc.create_mailbox("All Mail", special_use="\\All")
    assert {"Sent Items", "All Mail"}.isdisjoint(b.name for b in acc.mailboxes())
    acc.rename_mailbox("Archive", "Old")
    assert acc.mailbox("Old").special_use == "\\Archive"
    acc.delete_mailbox("Old")
    made = acc.create_mailbox("Kept", special_use="\\archive")  # canonical case
    assert made.special_use == "\\Archive"
    with pytest.raises(MailboxExists):
        acc.create_mailbox("Kept", special_use="\\Archive")
    # A default name made again by delivery gets its use only if it is free.
    acc.delete_mailbox("Junk")
    acc.create_mailbox("Spam", special_use="\\Junk")
    acc.deliver_bytes("Junk", b"Subject: x\r\n\r\nx\r\n")
    assert acc.mailbox("Junk").special_use == "" and "Junk" in acc.subscriptions()


def test_migration_subscribes_existing_mailboxes(datadir: DataDir) -> None:
    """An index of schema 5 (the release before): every mailbox it has starts
    subscribed, and the default mailboxes get their special use."""
    store = Store(datadir)
    acc = store.account("alice")
    acc.create_mailbox("Projects/2026")
    acc.rename_mailbox("Archive", "Archiv")
    path = acc.dir / INDEX_DB
    store.close()
    conn = sqlite3.connect(path)
    undo_subscriptions(conn)
    conn.close()
    store = Store(datadir)
    try:
        acc = store.account("alice")
        assert acc._conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        subs = set(acc.subscriptions())
        assert {"Inbox", "Sent", "Projects/2026", "Archiv"} <= subs
        uses = {b.name: b.special_use for b in acc.mailboxes()}
        assert uses["Sent"] == "\\Sent" and uses["Trash"] == "\\Trash"
        assert uses["Archiv"] == "" and uses["Projects/2026"] == ""
        # The store made a new Archive at opening (a default), with its use.
        assert uses["Archive"] == "\\Archive"
    finally:
        store.close()
