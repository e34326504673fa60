"""What IMAP relies on of a MailStore, on SQLite and on PostgreSQL alike
(the fixture ``mailstore`` runs each test on both backends)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from postel.imapserver.storeapi import MailStore, iter_messages
from postel.store.errors import (
    MailboxExists,
    MailboxNotFound,
    MessageNotFound,
    SpecialUseTaken,
    StoreError,
)
from postel.store.message import Message
from postel.store.names import DEFAULT_MAILBOXES


def _mail(tmp_path: Path, n: int, subject: str = "") -> Path:
    path = tmp_path / f"m{n}.eml"
    path.write_bytes(
        f"From: Bob <bob@example.org>\r\nTo: alice@example.com\r\n"
        f"Subject: {subject or f'message {n}'}\r\nMessage-ID: <{n}@example.org>\r\n\r\n"
        f"body {n}\r\n".encode()
    )
    return path


def _append(store: MailStore, tmp_path: Path, n: int, *flags: str, box: str = "Inbox") -> Message:
    return store.append(box, _mail(tmp_path, n), list(flags), None)


def test_default_mailboxes_first_in_order(mailstore: MailStore) -> None:
    mailstore.create_mailbox("Aaa")
    names = [m.name for m in mailstore.mailboxes()]
    assert names == [*DEFAULT_MAILBOXES, "Aaa"]
    inbox = mailstore.mailbox("INBOX")
    assert (inbox.name, inbox.uidnext, inbox.total) == ("Inbox", 1, 0)


def test_append_gives_ascending_uids_and_envelope(mailstore: MailStore, tmp_path: Path) -> None:
    when = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    first = mailstore.append("Inbox", _mail(tmp_path, 1), ["\\Seen", "$Important"], when)
    second = _append(mailstore, tmp_path, 2)
    third = _append(mailstore, tmp_path, 3)
    assert [first.uid, second.uid, third.uid] == [1, 2, 3]
    assert first.flags == {"\\Seen"} and first.keywords == {"$Important"}
    assert first.received == when
    assert (first.subject, first.from_, first.message_id) == (
        "message 1",
        "Bob <bob@example.org>",
        "<1@example.org>",
    )
    assert first.modseq < second.modseq < third.modseq
    assert list(mailstore.uids("Inbox")) == [1, 2, 3]
    assert [m.uid for m in mailstore.page("Inbox", 1, 10)] == [2, 3]
    assert [m.uid for m in iter_messages(mailstore, "Inbox")] == [1, 2, 3]
    box = mailstore.mailbox("Inbox")
    assert (box.uidnext, box.total, box.unseen) == (4, 3, 2)
    assert box.size == sum(m.size for m in (first, second, third)) == mailstore.usage()
    assert box.highestmodseq == third.modseq
    assert mailstore.get_by_uid("Inbox", 2).msgid == second.msgid
    assert _content(mailstore, second.msgid) == _mail(tmp_path, 2).read_bytes()


def _content(mailstore: MailStore, msgid: int) -> bytes:
    with mailstore.open_message(msgid) as f:
        return f.read()


def test_structures_stored_at_append(mailstore: MailStore, tmp_path: Path) -> None:
    msg = _append(mailstore, tmp_path, 1)
    assert msg.msgid in mailstore.structures([msg.msgid])
    mailstore.keep_structures({msg.msgid: (b"replaced", b"Subject: x\r\n")})
    assert mailstore.structures([msg.msgid]) == {msg.msgid: b"replaced"}
    assert mailstore.heads([msg.msgid]) == {msg.msgid: b"Subject: x\r\n"}


def test_answers_kept_and_dropped_with_the_message(mailstore: MailStore, tmp_path: Path) -> None:
    msg = _append(mailstore, tmp_path, 1)
    assert mailstore.answers([msg.msgid]) == {}
    mailstore.keep_answers({msg.msgid: {"ENVELOPE.1": b"(env)"}})
    mailstore.keep_answers({msg.msgid: {"ENVELOPE.1": b"(env2)", "BODY.1": b"(b)"}})
    assert mailstore.answers([msg.msgid]) == {
        msg.msgid: {"ENVELOPE.1": b"(env2)", "BODY.1": b"(b)"}
    }
    mailstore.remove(msg.msgid)
    assert mailstore.answers([msg.msgid]) == {}


def test_store_flags_one_modseq_and_unchangedsince(mailstore: MailStore, tmp_path: Path) -> None:
    msgs = [_append(mailstore, tmp_path, n) for n in (1, 2, 3)]
    before = mailstore.mailbox("Inbox").highestmodseq
    stored = mailstore.store_flags("Inbox", [1, 2, 99], ["\\Seen"], "add")
    assert stored.modseq > before
    assert [(s.uid, s.flags, s.modseq) for s in stored.messages] == [
        (1, {"\\Seen"}, stored.modseq),
        (2, {"\\Seen"}, stored.modseq),
    ]
    assert mailstore.mailbox("Inbox").unseen == 1
    # Nothing to change: no write, no new modseq.
    again = mailstore.store_flags("Inbox", [1], ["\\Seen"], "add")
    assert again.modseq == 0 and again.messages[0].modseq == stored.modseq
    # RFC 7162 §3.1.3: changed after UNCHANGEDSINCE -> left alone, reported.
    guarded = mailstore.store_flags(
        "Inbox", [1, 3], ["\\Flagged"], "replace", unchangedsince=msgs[2].modseq
    )
    assert guarded.modified == [1]
    assert [s.uid for s in guarded.messages] == [3]
    assert mailstore.get_by_uid("Inbox", 1).flags == {"\\Seen"}
    assert mailstore.get_by_uid("Inbox", 3).flags == {"\\Flagged"}
    with pytest.raises(StoreError):
        mailstore.store_flags("Inbox", [1], ["\\Seen"], "toggle")


def test_changes_since_and_vanished(mailstore: MailStore, tmp_path: Path) -> None:
    mailstore.create_mailbox("Old")
    a, b, c = (_append(mailstore, tmp_path, n) for n in (1, 2, 3))
    mark = mailstore.mailbox("Inbox").highestmodseq
    mailstore.set_flags(b.msgid, ["\\Answered"], [])
    mailstore.remove(a.msgid)
    moved = mailstore.move(c.msgid, "Old")
    changes = mailstore.changes_since("Inbox", mark)
    assert [m.uid for m in changes.changed] == [2]
    assert changes.vanished == [1, 3]
    assert changes.highestmodseq == mailstore.mailbox("Inbox").highestmodseq > mark
    assert changes.uidvalidity == mailstore.mailbox("Inbox").uidvalidity
    old = mailstore.changes_since("Old", 0)
    assert [m.uid for m in old.changed] == [moved.uid] == [1]
    assert (mailstore.mailbox("Inbox").total, mailstore.mailbox("Old").total) == (1, 1)
    with pytest.raises(MessageNotFound):
        mailstore.get_by_uid("Inbox", 1)


def test_set_flags_without_change_keeps_modseq(mailstore: MailStore, tmp_path: Path) -> None:
    msg = _append(mailstore, tmp_path, 1, "\\Seen")
    same = mailstore.set_flags(msg.msgid, ["\\Seen"], [])
    assert same.modseq == msg.modseq
    changed = mailstore.set_flags(msg.msgid, ["kw"], ["\\Seen"])
    assert changed.flags == frozenset() and changed.keywords == {"kw"}
    assert changed.modseq > msg.modseq
    assert mailstore.mailbox("Inbox").unseen == 1


def test_copy_keeps_content_and_flags(mailstore: MailStore, tmp_path: Path) -> None:
    mailstore.create_mailbox("Box")
    _append(mailstore, tmp_path, 1, box="Box")
    msg = _append(mailstore, tmp_path, 2, "\\Flagged")
    copy = mailstore.copy(msg.msgid, "Box")
    assert (copy.mailbox, copy.uid, copy.flags) == ("Box", 2, {"\\Flagged"})
    assert copy.msgid != msg.msgid
    assert _content(mailstore, copy.msgid) == _mail(tmp_path, 2).read_bytes()
    mailstore.remove(msg.msgid)
    # The copy's content outlives the original.
    assert _content(mailstore, copy.msgid) == _mail(tmp_path, 2).read_bytes()
    assert mailstore.usage() == mailstore.mailbox("Box").size


def test_mailbox_lifecycle(mailstore: MailStore, tmp_path: Path) -> None:
    created = mailstore.create_mailbox("Work")
    mailstore.create_mailbox("Work/2024")
    with pytest.raises(MailboxExists):
        mailstore.create_mailbox("Work")
    _append(mailstore, tmp_path, 1, box="Work")
    renamed = mailstore.rename_mailbox("Work", "Jobs")
    assert (renamed.name, renamed.uidvalidity, renamed.total) == ("Jobs", created.uidvalidity, 1)
    assert {m.name for m in mailstore.mailboxes()} >= {"Jobs", "Jobs/2024"}
    assert "Work" not in {m.name for m in mailstore.mailboxes()}
    with pytest.raises(MailboxExists):
        mailstore.rename_mailbox("Jobs/2024", "Sent")
    with pytest.raises(StoreError):
        mailstore.rename_mailbox("Inbox", "Other")
    assert mailstore.delete_mailbox("Jobs") == 1
    assert mailstore.mailbox("Jobs/2024").total == 0
    again = mailstore.create_mailbox("Jobs")
    assert again.uidvalidity > created.uidvalidity  # RFC 9051 §2.3.1.1
    assert mailstore.usage() == 0
    with pytest.raises(StoreError):
        mailstore.delete_mailbox("INBOX")
    with pytest.raises(MailboxNotFound):
        mailstore.delete_mailbox("Nowhere")
    with pytest.raises(MailboxNotFound):
        mailstore.page("Nowhere", 0, 10)


def test_message_of_another_mailbox_is_not_found(mailstore: MailStore) -> None:
    with pytest.raises(MessageNotFound):
        mailstore.get_by_uid("Inbox", 1)
    with pytest.raises(MessageNotFound):
        mailstore.remove(12345)


def test_pg_mailstore_refuses_the_loop_thread(pg_store: object, loop_thread: object) -> None:
    """Called on the event loop's own thread, a synchronous call would wait for
    itself forever: it is refused at once instead."""
    import asyncio

    from pghelpers import LoopThread

    from postel.pg.accountstore import PgStore
    from postel.pg.syncstore import LoopThreadError, PgMailStore

    assert isinstance(pg_store, PgStore) and isinstance(loop_thread, LoopThread)
    account = loop_thread.run(pg_store.create_account("alice"))
    store = PgMailStore(account, loop_thread.loop, Path("/nonexistent"))

    async def on_loop() -> str:
        try:
            store.mailboxes()
        except LoopThreadError as exc:
            return str(exc)
        return "no error"

    text = loop_thread.run(asyncio.wait_for(on_loop(), 5))
    assert text == "account 'alice': PgMailStore called on the event loop's thread"


def test_pg_message_files_are_private(
    pg_store: object, loop_thread: object, tmp_path: Path
) -> None:
    from pghelpers import LoopThread

    from postel.pg.accountstore import PgStore
    from postel.pg.syncstore import PgMailStore

    assert isinstance(pg_store, PgStore) and isinstance(loop_thread, LoopThread)
    account = loop_thread.run(pg_store.create_account("alice"))
    store = PgMailStore(account, loop_thread.loop, tmp_path / "cache")
    msg = _append(store, tmp_path, 1)
    with store.open_message(msg.msgid) as first, store.open_message(msg.msgid) as again:
        path = Path(first.name)
        assert Path(again.name) == path  # written once, then reused
    assert [p.stat().st_mode & 0o777 for p in (tmp_path / "cache", path.parent, path)] == [
        0o700,
        0o700,
        0o600,
    ]


def test_subscriptions_kept_for_any_name(mailstore: MailStore) -> None:
    # A fresh account's default mailboxes are subscribed, so that clients
    # listing subscriptions (RFC 9051 §6.3.9) see them.
    assert set(DEFAULT_MAILBOXES) <= set(mailstore.subscriptions())
    before = set(mailstore.subscriptions())
    mailstore.subscribe("Ideas")  # no such mailbox: still kept
    mailstore.subscribe("Ideas")  # idempotent
    mailstore.subscribe("inbox")  # the Inbox, in any case
    assert set(mailstore.subscriptions()) == before | {"Ideas"}
    mailstore.unsubscribe("Ideas")
    mailstore.unsubscribe("Ideas")  # idempotent (RFC 9051 §6.3.10)
    mailstore.unsubscribe("Sent")
    assert set(mailstore.subscriptions()) == before - {"Sent"}
    assert mailstore.subscriptions() == sorted(mailstore.subscriptions())


def test_subscription_follows_a_renamed_mailbox_and_its_children(mailstore: MailStore) -> None:
    mailstore.create_mailbox("Lists/postel")
    mailstore.create_mailbox("Lists/postel/announce")
    mailstore.subscribe("Lists/postel")
    mailstore.subscribe("Lists/postel/announce")
    mailstore.rename_mailbox("Lists/postel", "Lists/postel-users")
    subscribed = set(mailstore.subscriptions())
    assert {"Lists/postel-users", "Lists/postel-users/announce"} <= subscribed
    assert not {"Lists/postel", "Lists/postel/announce"} & subscribed
    # an unsubscribed mailbox stays unsubscribed under its new name
    mailstore.create_mailbox("Quiet")
    mailstore.rename_mailbox("Quiet", "Silent")
    assert "Silent" not in mailstore.subscriptions()


def test_special_use_of_default_and_created_mailboxes(mailstore: MailStore) -> None:
    # RFC 6154 §2: the default mailboxes carry their use, LIST shows it.
    uses = {box.name: box.special_use for box in mailstore.mailboxes()}
    assert uses["Sent"] == "\\Sent" and uses["Trash"] == "\\Trash" and uses["Inbox"] == ""
    # RFC 6154 §3 CREATE-SPECIAL-USE: kept, and each use on one mailbox only.
    mailstore.delete_mailbox("Archive")
    assert mailstore.create_mailbox("Kept", special_use="\\archive").special_use == "\\Archive"
    assert mailstore.mailbox("Kept").special_use == "\\Archive"
    with pytest.raises(SpecialUseTaken):
        mailstore.create_mailbox("Sent2", special_use="\\Sent")
    assert "Sent2" not in {box.name for box in mailstore.mailboxes()}
    # a rename keeps the use
    assert mailstore.rename_mailbox("Kept", "Old").special_use == "\\Archive"
