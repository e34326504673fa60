"""Conversations: thread keys at delivery, by migration, and the threaded list."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from schemahistory import undo_threads

from postel.datadir import DataDir
from postel.store.account import INDEX_DB, AccountStore
from postel.store.api import AccountMail
from postel.store.envelope import parse_envelope
from postel.store.errors import StoreError
from postel.store.schema import MIGRATIONS, THREAD_HEAD_SQL, thread_counts_sql, thread_heads_sql
from postel.store.store import Store
from postel.store.threads import (
    base_subject,
    is_reply,
    references_of,
    thread_for,
)


def mail(
    subject: str,
    msgid: str,
    *,
    in_reply_to: str = "",
    references: str = "",
    body: str = "text",
) -> bytes:
    head = (
        f"From: a@example.org\r\nTo: b@example.net\r\nSubject: {subject}\r\nMessage-ID: {msgid}\r\n"
    )
    if in_reply_to:
        head += f"In-Reply-To: {in_reply_to}\r\n"
    if references:
        head += f"References: {references}\r\n"
    return (head + f"\r\n{body}\r\n").encode()


# --- pure parts ---


@pytest.mark.parametrize(
    ("subject", "base"),
    [
        ("Lunch", "lunch"),
        ("Re: Lunch", "lunch"),
        ("RE: re: Fwd: Lunch", "lunch"),
        ("Re[2]: Lunch", "lunch"),
        ("[list] Re: [list] Lunch  plans", "lunch plans"),
        ("AW: Lunch (fwd)", "lunch"),
        ("[Fwd: Lunch]", "lunch"),
        ("", ""),
    ],
)
def test_base_subject_drops_reply_markers_and_list_tags(subject: str, base: str) -> None:
    assert base_subject(subject) == base


def test_is_reply_and_reference_order() -> None:
    assert is_reply("Re: x") and is_reply("[list] Fwd: x") and not is_reply("Invoice")
    # In-Reply-To first, then References from the parent back to the root, each once.
    assert references_of("<p@x>", "<r@x> <m@x> <p@x>") == ["<p@x>", "<m@x>", "<r@x>"]


def test_envelope_carries_references_on_both_parsers() -> None:
    block = b"Subject: s\r\nReferences: <a@x>\r\n <b@x>\r\n"
    assert parse_envelope(block).references == "<a@x> <b@x>"
    block = b"Subject: =?utf-8?q?caf=C3=A9?=\r\nReferences: <a@x> <b@x>\r\n"
    assert parse_envelope(block).references == "<a@x> <b@x>"


# --- delivery ---


def test_reply_joins_the_thread_of_the_message_it_answers(account: AccountMail) -> None:
    root = account.deliver_bytes("Inbox", mail("Lunch", "<1@x>"))
    assert root.thread == root.msgid
    reply = account.deliver_bytes("Sent", mail("Re: Lunch", "<2@x>", in_reply_to="<1@x>"))
    # References only, the parent unknown here: the root is found further back.
    deep = account.deliver_bytes(
        "Inbox", mail("Re: Lunch", "<4@x>", references="<1@x> <3@missing>")
    )
    other = account.deliver_bytes("Inbox", mail("Dinner", "<5@x>"))
    assert reply.thread == deep.thread == root.thread
    assert other.thread == other.msgid
    assert account.get(deep.msgid).thread == root.thread
    assert [m.msgid for m in account.thread_messages(root.thread)] == [
        root.msgid,
        reply.msgid,
        deep.msgid,
    ]
    assert [m.msgid for m in account.thread_messages(root.thread, mailbox="Sent")] == [reply.msgid]


def test_a_reply_stored_before_its_parent_is_joined_by_it(account: AccountMail) -> None:
    reply = account.deliver_bytes("Inbox", mail("Re: Plan", "<b@x>", in_reply_to="<a@x>"))
    parent = account.deliver_bytes("Inbox", mail("Plan", "<a@x>"))
    assert parent.thread == reply.thread == reply.msgid


def test_subject_joins_replies_only(account: AccountMail) -> None:
    first = account.deliver_bytes("Inbox", mail("Invoice", "<i1@x>"))
    same = account.deliver_bytes("Inbox", mail("Invoice", "<i2@x>"))
    reply = account.deliver_bytes("Inbox", mail("Re: invoice", "<i3@x>"))
    assert same.thread == same.msgid != first.thread  # same subject alone: not a thread
    assert reply.thread == same.thread  # a reply without headers: the newest by subject


def test_subject_fallback_stops_after_the_window(account: AccountMail) -> None:
    long_ago = datetime.now(UTC) - timedelta(days=400)
    old = account.deliver_bytes("Inbox", mail("Party", "<p1@x>"), received=long_ago)
    reply = account.deliver_bytes("Inbox", mail("Re: Party", "<p2@x>"))
    assert reply.thread != old.thread


# --- the threaded list ---


def test_list_threads_pages_by_newest_message_of_each_thread(account: AccountMail) -> None:
    a = account.deliver_bytes("Inbox", mail("A", "<a@x>"))
    b = account.deliver_bytes("Inbox", mail("B", "<b@x>"))
    account.deliver_bytes("Inbox", mail("Re: A", "<a2@x>", in_reply_to="<a@x>"))
    c = account.deliver_bytes("Inbox", mail("C", "<c@x>"))
    a3 = account.deliver_bytes("Inbox", mail("Re: A", "<a3@x>", in_reply_to="<a2@x>"))
    account.set_flags(a3.msgid, ["\\Seen"])
    # A reply in another mailbox does not move the thread in this one.
    b2 = account.deliver_bytes("Sent", mail("Re: B", "<b2@x>", in_reply_to="<b@x>"))
    page = account.list_threads("Inbox", limit=2)
    assert [(t.head.msgid, t.messages, t.unseen) for t in page] == [
        (a3.msgid, 3, 2),
        (c.msgid, 1, 1),
    ]
    assert page[0].head.thread == a.msgid
    rest = account.list_threads("Inbox", limit=2, cursor=page[-1].head.uid)
    assert [(t.head.msgid, t.messages) for t in rest] == [(b.msgid, 1)]
    newer = account.list_threads("Inbox", limit=5, newest_first=False, cursor=b.uid)
    assert [t.head.msgid for t in newer] == [c.msgid, a3.msgid]
    assert [t.head.msgid for t in account.list_threads("Sent")] == [b2.msgid]


def test_thread_page_query_walks_the_indexes(acc: AccountStore) -> None:
    """A page reads rows through message_mailbox_uid and probes message_thread;
    never a scan of the message table or a sort of the whole mailbox."""
    plan = " ".join(
        str(r[3])
        for r in acc._conn.execute(
            "EXPLAIN QUERY PLAN " + thread_heads_sql(newest_first=True, cursor=True), (1, 10, 50)
        )
    )
    assert "message_mailbox_uid" in plan and "message_thread" in plan
    assert "TEMP B-TREE" not in plan and "SCAN m " not in plan + " "


def test_empty_mailbox_removes_all_its_messages(account: AccountMail) -> None:
    for i in range(3):
        account.deliver_bytes("Trash", mail(f"t{i}", f"<t{i}@x>"))
    kept = account.deliver_bytes("Inbox", mail("keep", "<k@x>"))
    uidvalidity = account.mailbox("Trash").uidvalidity
    assert account.empty_mailbox("Trash") == 3
    assert (
        account.mailbox("Trash").total == 0 and account.mailbox("Trash").uidvalidity == uidvalidity
    )
    assert account.get(kept.msgid).subject == "keep"
    assert account.check() == []


# --- migration ---


def test_migration_threads_stored_mail(datadir: DataDir) -> None:
    """An index of schema 3 (before threads) gets thread keys when opened: by
    In-Reply-To and reply subjects (References were never in the index)."""
    store = Store(datadir)
    acc = store.account("alice")
    root = acc.deliver_bytes("Inbox", mail("Trip", "<t1@x>"))
    reply = acc.deliver_bytes("Inbox", mail("Re: Trip", "<t2@x>", in_reply_to="<t1@x>"))
    by_subject = acc.deliver_bytes("Inbox", mail("Re: trip", "<t3@x>"))
    alone = acc.deliver_bytes("Inbox", mail("Trip", "<t4@x>"))
    path = acc.dir / INDEX_DB
    store.close()
    conn = sqlite3.connect(path)
    undo_threads(conn)
    conn.close()
    store = Store(datadir)
    try:
        acc = store.account("alice")
        assert acc._conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        threads = {m.msgid: m.thread for m in acc.list_messages("Inbox", limit=10)}
        assert threads[reply.msgid] == threads[by_subject.msgid] == threads[root.msgid]
        assert threads[alone.msgid] == alone.msgid
        assert [t.messages for t in acc.list_threads("Inbox")] == [1, 3]
    finally:
        store.close()


def test_threading_a_message_reads_through_indexes_only(acc: AccountStore) -> None:
    """Every lookup of thread_for is an index search, never a scan of the
    mailbox (a partial index is only used when the query implies its WHERE)."""
    acc.deliver_bytes("Inbox", mail("Base", "<base@x>"))
    statements: list[str] = []
    conn = acc._conn
    conn.set_trace_callback(statements.append)
    try:
        thread_for(
            conn,
            msgid=999,
            message_id="<new@x>",
            in_reply_to="<gone@x>",
            references="<gone2@x>",
            subject="Re: something",
            received=datetime.now(UTC),
        )
    finally:
        conn.set_trace_callback(None)
    assert len(statements) == 4  # two references, the stored reply, the subject
    for sql in statements:
        plan = " ".join(str(r[3]) for r in conn.execute("EXPLAIN QUERY PLAN " + sql))
        assert plan.startswith("SEARCH message USING INDEX"), (sql, plan)


def test_thread_counts_read_indexes_only(acc: AccountStore) -> None:
    """The counts of a page's threads come from message_thread (covering) and
    the partial message_thread_unseen (the unread rows only): a long, read
    conversation costs its index entries, not its rows."""
    for unseen in (False, True):
        sql = thread_counts_sql(2, unseen=unseen)
        plan = " ".join(
            str(r[3]) for r in acc._conn.execute("EXPLAIN QUERY PLAN " + sql, (1, 2, 1))
        )
        want = "INDEX message_thread_unseen" if unseen else "COVERING INDEX message_thread "
        assert want in plan + " ", plan


def test_thread_summaries_give_named_threads_as_the_list_shows_them(account: AccountMail) -> None:
    """What live updates ask for (webmail /rows): given thread keys, each thread's
    newest message in the mailbox and its counts there, newest first; a key with
    nothing left in the mailbox is left out."""
    a = account.deliver_bytes("Inbox", mail("A", "<a@x>"))
    b = account.deliver_bytes("Inbox", mail("B", "<b@x>"))
    a2 = account.deliver_bytes("Inbox", mail("Re: A", "<a2@x>", in_reply_to="<a@x>"))
    account.set_flags(a.msgid, ["\\Seen"])
    account.deliver_bytes("Sent", mail("Re: B", "<b2@x>", in_reply_to="<b@x>"))
    got = account.thread_summaries("Inbox", [b.msgid, a.msgid, a.msgid, 999_999])
    assert [(t.head.msgid, t.messages, t.unseen) for t in got] == [
        (a2.msgid, 2, 1),
        (b.msgid, 1, 1),
    ]
    assert got == account.list_threads("Inbox")
    account.move(b.msgid, "Archive")
    assert [t.head.thread for t in account.thread_summaries("Inbox", [b.msgid, a.msgid])] == [
        a.msgid
    ]
    with pytest.raises(StoreError):
        account.thread_summaries("Inbox", range(1, 202))


def test_thread_head_query_probes_the_thread_index(acc: AccountStore) -> None:
    plan = " ".join(
        str(r[3]) for r in acc._conn.execute("EXPLAIN QUERY PLAN " + THREAD_HEAD_SQL, (1, 1))
    )
    assert "message_thread" in plan and "TEMP B-TREE" not in plan
