"""Each message's MIME structure, parsed at delivery and kept in the index."""

from __future__ import annotations

import sqlite3

from schemahistory import undo_heads, undo_mime

from postel.datadir import DataDir
from postel.store import AccountStore, Store
from postel.store.account import INDEX_DB
from postel.store.mimestructure import (
    FORMAT,
    HEAD_FIELDS,
    Stored,
    dump,
    head_of,
    load,
    stored_form,
    structure_of,
)
from postel.store.schema import MIGRATIONS

NESTED = (
    b"From: =?utf-8?q?J=C3=B6rg?= <jorg@example.org>\r\n"
    b"To: a@example.org\r\n"
    b"Subject: caf\xc3\xa9 \xe9t\xe9\r\n"  # UTF-8, then bytes that are not
    b"Received: from x by y\r\n"
    b"Content-Type: multipart/mixed; boundary=outer\r\n"
    b"\r\n"
    b"--outer\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"first part\r\n"
    b"--outer\r\n"
    b"Content-Type: message/rfc822\r\n"
    b"\r\n"
    b"Subject: inner\r\n"
    b"From: b@example.org\r\n"
    b"\r\n"
    b"inner text\r\n"
    b"--outer--\r\n"
)


def test_structure_round_trips_through_its_stored_form() -> None:
    s = structure_of(NESTED)
    blob = dump(s)
    assert blob[0] == FORMAT
    assert load(blob) == s
    # Only the fields ENVELOPE needs are kept, 8-bit bytes unchanged.
    assert [k for k, _ in s.envelopes[0]] == ["From", "To", "Subject"]
    inner = s.root.children[1].message
    assert inner is not None and [k for k, _ in s.envelopes[inner.start]] == ["Subject", "From"]
    assert len(blob) < len(NESTED) * 2


def test_where_the_header_ends_is_read_without_decoding() -> None:
    for data in (NESTED, b"Subject: x\r\n\r\nbody", b"no header", b""):
        s = structure_of(data)
        assert Stored(dump(s)).body_start == s.root.body_start
        assert Stored(dump(s)).structure == s


def test_another_format_is_not_loaded() -> None:
    assert load(bytes([FORMAT + 1]) + dump(structure_of(NESTED))[1:]) is None
    assert load(b"") is None


def test_delivery_stores_the_structure(acc: AccountStore) -> None:
    msg = acc.deliver_bytes("Inbox", NESTED)
    stored = acc.structures([msg.msgid])
    assert set(stored) == {msg.msgid}
    assert load(stored[msg.msgid]) == structure_of(NESTED)


def test_append_and_copy_store_it_too(acc: AccountStore) -> None:
    msg = acc.deliver_bytes("Inbox", NESTED)
    acc.create_mailbox("Other")
    copy = acc.deliver("Other", acc.message_path(msg.msgid))
    assert acc.structures([copy.msgid])[copy.msgid] == acc.structures([msg.msgid])[msg.msgid]


def test_migration_leaves_stored_mail_to_be_filled_in(datadir: DataDir) -> None:
    """An index of schema 4 gets the column; mail stored before has no
    structure until one is kept for it (the first IMAP FETCH does)."""
    store = Store(datadir)
    acc = store.account("alice")
    old = acc.deliver_bytes("Inbox", NESTED)
    path = acc.dir / INDEX_DB
    store.close()
    conn = sqlite3.connect(path)
    undo_mime(conn)
    conn.close()
    store = Store(datadir)
    try:
        acc = store.account("alice")
        assert acc._conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert acc.structures([old.msgid]) == {}
        new = acc.deliver_bytes("Inbox", NESTED)
        assert set(acc.structures([old.msgid, new.msgid])) == {new.msgid}
        before = acc.mailbox("Inbox").highestmodseq
        acc.keep_structures({old.msgid: stored_form(NESTED)})
        assert set(acc.structures([old.msgid, new.msgid])) == {old.msgid, new.msgid}
        assert acc.mailbox("Inbox").highestmodseq == before  # no change a client sees
    finally:
        store.close()


def test_a_removed_message_leaves_no_structure(acc: AccountStore) -> None:
    msg = acc.deliver_bytes("Inbox", NESTED)
    gone = acc.deliver_bytes("Inbox", NESTED)
    acc.remove(gone.msgid)
    acc.keep_structures({gone.msgid: stored_form(NESTED)})  # removed meanwhile
    rows = acc._conn.execute("SELECT id FROM message_mime").fetchall()
    assert [row[0] for row in rows] == [msg.msgid]


FOLDED = (
    b"Received: from x\r\n\tby y\r\n"
    b"From: Ann <ann@example.org>\r\n"
    b"Subject: a long\r\n subject, folded\r\n"
    b"X-Other: 1\r\n"
    b"date:Mon, 7 Dec 2026 10:00:00 +0000\r\n"
    b"References: <a@x>\r\n\t<b@x>\r\n"
    b"\r\n"
    b"Subject: not a header line\r\n"
)


def test_head_keeps_the_common_fields_as_sent_with_crlf() -> None:
    assert head_of(FOLDED[: FOLDED.index(b"\r\n\r\n") + 4]) == (
        b"From: Ann <ann@example.org>\r\n"
        b"Subject: a long\r\n subject, folded\r\n"
        b"date:Mon, 7 Dec 2026 10:00:00 +0000\r\n"
        b"References: <a@x>\r\n\t<b@x>\r\n"
    )


def test_head_of_a_message_with_bare_newlines_keeps_them() -> None:
    data = FOLDED.replace(b"\r\n", b"\n")
    mime, head = stored_form(data)
    assert Stored(mime).body_start == data.index(b"\n\n") + 2
    assert head == (
        b"From: Ann <ann@example.org>\n"
        b"Subject: a long\n subject, folded\n"
        b"date:Mon, 7 Dec 2026 10:00:00 +0000\n"
        b"References: <a@x>\n\t<b@x>\n"
    )
    assert b"not a header line" not in head and b"Received" not in head


def test_stored_at_delivery_and_dropped_with_the_message(acc: AccountStore) -> None:
    msg = acc.deliver_bytes("Inbox", FOLDED)
    assert acc.heads([msg.msgid]) == {msg.msgid: stored_form(FOLDED)[1]}
    assert acc.structures([msg.msgid]) == {msg.msgid: stored_form(FOLDED)[0]}
    acc.remove(msg.msgid)
    assert acc.heads([msg.msgid]) == {}


def test_answers_are_kept_without_a_change_and_dropped_with_the_message(
    acc: AccountStore,
) -> None:
    msg = acc.deliver_bytes("Inbox", FOLDED)
    gone = acc.deliver_bytes("Inbox", FOLDED)
    acc.remove(gone.msgid)
    before = acc.mailbox("Inbox").highestmodseq
    acc.keep_answers({msg.msgid: {"ENVELOPE": b"(a)", "BODY": b"(b)"}, gone.msgid: {"BODY": b"x"}})
    assert acc.answers([msg.msgid, gone.msgid]) == {msg.msgid: {"ENVELOPE": b"(a)", "BODY": b"(b)"}}
    assert acc.mailbox("Inbox").highestmodseq == before
    acc.remove(msg.msgid)
    assert acc.answers([msg.msgid]) == {}
    assert acc._conn.execute("SELECT count(*) FROM message_answer").fetchone()[0] == 0


def test_mail_stored_before_header_fields_gets_them_when_kept(datadir: DataDir) -> None:
    """An index of schema 5 gets the head column (NULL for mail already
    stored) and the answers table."""
    store = Store(datadir)
    acc = store.account("alice")
    old = acc.deliver_bytes("Inbox", FOLDED)
    path = acc.dir / INDEX_DB
    store.close()
    conn = sqlite3.connect(path)
    undo_heads(conn)
    conn.close()
    store = Store(datadir)
    try:
        acc = store.account("alice")
        assert acc._conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert set(acc.structures([old.msgid])) == {old.msgid}
        assert acc.heads([old.msgid]) == {}
        acc.keep_structures({old.msgid: stored_form(FOLDED)})
        assert acc.heads([old.msgid]) == {old.msgid: stored_form(FOLDED)[1]}
        acc.keep_answers({old.msgid: {"ENVELOPE": b"()"}})
        assert acc.answers([old.msgid]) == {old.msgid: {"ENVELOPE": b"()"}}
    finally:
        store.close()


def test_head_fields_include_what_envelope_needs() -> None:
    assert {"from", "subject", "date", "message-id", "references"} <= HEAD_FIELDS
