"""Mailbox management by real IMAP clients on loopback: subscriptions (mbsync's
SubscribedOnly, which uses LSUB; imapclient), LIST-EXTENDED, LIST-STATUS and
CREATE-SPECIAL-USE sent raw through Python's imaplib."""

from __future__ import annotations

import imaplib
from collections.abc import Iterator
from pathlib import Path

import pytest
from imaplocal import IP, Local, mbsync, mbsync_config, serve_local
from storagebackend import Backend

pytestmark = pytest.mark.integration


@pytest.fixture
def local(tmp_path: Path, storage_backend: Backend) -> Iterator[Local]:
    yield from serve_local(tmp_path, backend=storage_backend)


def test_imapclient_subscriptions(local: Local) -> None:
    from imapclient import IMAPClient

    with IMAPClient(
        IP, port=local.ports["imaps"], ssl_context=local.client_context(), timeout=20
    ) as c:
        c.login(local.user, local.password)
        # A new account's mailboxes are subscribed.
        assert {name for _, _, name in c.list_sub_folders()} >= {"INBOX", "Sent", "Trash"}
        c.create_folder("Lists/postel")
        assert "Lists/postel" not in {name for _, _, name in c.list_sub_folders()}
        c.subscribe_folder("Lists/postel")
        c.unsubscribe_folder("Trash")
        subscribed = {name for _, _, name in c.list_sub_folders()}
        assert "Lists/postel" in subscribed and "Trash" not in subscribed
        c.rename_folder("Lists/postel", "Lists/postel-users")
        assert "Lists/postel-users" in {name for _, _, name in c.list_sub_folders()}
        # A deleted mailbox stays subscribed, shown as not selectable.
        c.delete_folder("Lists/postel-users")
        (flags,) = [f for f, _, n in c.list_sub_folders() if n == "Lists/postel-users"]
        assert b"\\Noselect" in flags
        assert "Lists/postel-users" not in {name for _, _, name in c.list_folders()}
    with local.account() as account:
        subs = account.subscriptions()
    assert "Lists/postel-users" in subs and "Trash" not in subs


def test_imaplib_list_extended_status_and_special_use(local: Local) -> None:
    local.send("counted")
    c = imaplib.IMAP4_SSL(IP, local.ports["imaps"], ssl_context=local.client_context(), timeout=20)
    c.login(local.user, local.password)
    _, lines = c.capability()  # after login
    caps = set(b" ".join(lines).decode().split())
    assert {"LIST-EXTENDED", "LIST-STATUS", "CREATE-SPECIAL-USE"} <= caps
    c.delete("Archive")
    typ, data = c._simple_command("CREATE", "Kept", "(USE (\\Archive))")
    assert typ == "OK", data
    typ, data = c._simple_command("CREATE", "Sent2", "(USE (\\Sent))")
    assert typ == "NO" and b"[USEATTR]" in data[0]
    typ, _ = c._simple_command(
        "LIST", '""', '("INBOX" "Kept")', "RETURN", "(SPECIAL-USE SUBSCRIBED STATUS (MESSAGES))"
    )
    assert typ == "OK"
    _, lists = c._untagged_response(typ, [], "LIST")
    assert lists == [
        b'(\\HasNoChildren \\Subscribed) "/" INBOX',
        b'(\\HasNoChildren \\Archive) "/" Kept',
    ]
    _, status = c._untagged_response(typ, [], "STATUS")
    assert status == [b"INBOX (MESSAGES 1)", b"Kept (MESSAGES 0)"]
    c._simple_command("SUBSCRIBE", "Later/Maybe")
    typ, _ = c._simple_command("LIST", "(SUBSCRIBED RECURSIVEMATCH)", '""', '"%"')
    _, lists = c._untagged_response(typ, [], "LIST")
    assert b'(\\NonExistent) "/" Later ("CHILDINFO" ("SUBSCRIBED"))' in lists
    c.logout()


def test_mbsync_subscribed_only(local: Local, tmp_path: Path) -> None:
    """mbsync with SubscribedOnly (LSUB) and Patterns syncs the subscribed
    mailboxes only: one subscribed by a client, not one unsubscribed."""
    with local.account() as acc:
        acc.create_mailbox("Lists/postel")
        acc.subscribe("Lists/postel")
        acc.create_mailbox("Lists/other")
        acc.unsubscribe("Junk")
    local.send("for the list")
    rc, maildir = mbsync_config(
        local, tmp_path, "SubscribedOnly yes\n", "Patterns *\nCreate Near\n"
    )
    mbsync(rc)
    made = {p.relative_to(maildir).as_posix() for p in maildir.rglob("cur")}
    assert {"INBOX/cur", "Sent/cur", "Lists/postel/cur"} <= made
    assert not {"Lists/other/cur", "Junk/cur"} & made
    assert list((maildir / "INBOX" / "new").iterdir()) or list(
        (maildir / "INBOX" / "cur").iterdir()
    )
