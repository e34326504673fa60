"""Full-text search: the query language, the body text, the
index filled at delivery and by the upgrade, and the operators."""

from __future__ import annotations

import re
import sqlite3
import time
from datetime import UTC, date, datetime

import pytest
from schemahistory import undo_modseq

from postel.datadir import DataDir
from postel.store import BadQuery
from postel.store.account import INDEX_DB, AccountStore
from postel.store.api import AccountMail
from postel.store.bodytext import TEXT_LIMIT, body_text
from postel.store.schema import MIGRATIONS
from postel.store.searchquery import parse_query
from postel.store.store import Store


def mail(
    subject: str,
    body: str,
    *,
    sender: str = "alice@example.org",
    to: str = "bob@example.net",
    date_: str = "Mon, 2 Jun 2025 10:00:00 +0000",
) -> bytes:
    return (
        f"From: Alice <{sender}>\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {date_}\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()


MULTIPART = (
    b"From: carol@example.com\r\nTo: bob@example.net\r\nSubject: report\r\n"
    b"Date: Tue, 3 Jun 2025 10:00:00 +0000\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
    b"--B\r\nContent-Type: text/html; charset=iso-8859-1\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    b"<style>p{color:red}</style><p>Quarterly figures: caf=E9 &amp; croissants</p>\r\n"
    b"--B\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=a.txt\r\n\r\n"
    b"attachedsecret\r\n"
    b"--B\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
    b"Content-Disposition: attachment; filename=r.pdf\r\n\r\nJVBERi0xLjQK\r\n--B--\r\n"
)


def subjects(acc: AccountMail, query: str, **kw: object) -> list[str]:
    return [m.subject for m in acc.search(query, **kw)]  # type: ignore[arg-type]


# --- the query language (pure) ---


def test_words_all_must_match_and_a_star_makes_a_prefix() -> None:
    q = parse_query("hello wor*")
    assert q.match() == '"hello" AND "wor"*'


def test_fields_phrases_and_filters() -> None:
    q = parse_query(
        'from:alice@example.org subject:"big news" to:bob -spam has:attachment '
        "before:2025-06-03 after:2025/06/01"
    )
    assert q.match() == (
        '({sender} : "alice@example.org" AND {subject} : "big news" AND {recipients} : "bob") '
        'NOT ("spam")'
    )
    assert q.exclude() == '"spam"'
    assert q.has_attachment
    assert (q.after, q.before) == (date(2025, 6, 1), date(2025, 6, 3))


def test_input_never_becomes_fts_syntax() -> None:
    q = parse_query('NEAR(a b) x"y OR} {body}:z')
    # Every piece is a quoted string: FTS5 operators in the input are just words.
    assert q.match() == '"NEAR(a" AND "b)" AND "x""y" AND "OR}" AND "{body}:z"'


@pytest.mark.parametrize("text", ["before:yesterday", "has:pictures", "x" * 501])
def test_bad_queries(text: str) -> None:
    with pytest.raises(BadQuery):
        parse_query(text)


# --- body text (pure) ---


def test_body_text_of_parts() -> None:
    text = body_text(MULTIPART)
    assert "Quarterly figures: café & croissants" in text
    assert "color" not in text  # the style sheet is not text
    assert "attachedsecret" not in text  # attachments are not body text


def test_body_text_is_bounded() -> None:
    text = body_text(mail("big", "word " * 100_000))
    assert len(text) == TEXT_LIMIT


# --- the index ---


@pytest.fixture
def filled(account: AccountMail) -> AccountMail:
    account.deliver_bytes("Inbox", mail("Lunch on Friday", "Shall we try the new ramen place?"))
    account.deliver_bytes(
        "Inbox",
        mail(
            "Invoice 2025-06",
            "Please find the invoice attached.",
            sender="billing@shop.example",
            date_="Sun, 1 Jun 2025 09:00:00 +0000",
        ),
    )
    account.deliver_bytes("Inbox", MULTIPART)
    account.deliver_bytes(
        "Archive",
        mail("Old ramen review", "Ramen was cold.", date_="Wed, 1 Jan 2020 00:00:00 +0000"),
        flags=["\\Seen"],
    )
    return account


def test_search_at_delivery(filled: AccountMail) -> None:
    assert subjects(filled, "ramen") == ["Old ramen review", "Lunch on Friday"]  # newest first
    assert subjects(filled, "ramen", mailbox="Inbox") == ["Lunch on Friday"]
    assert subjects(filled, "croissants") == ["report"]  # in an HTML part
    assert subjects(filled, "croissant") == []  # whole words
    assert subjects(filled, "croiss*") == ["report"]  # unless a prefix is asked for
    assert subjects(filled, "cafe") == ["report"]  # diacritics folded
    assert subjects(filled, "attachedsecret") == []
    [hit] = filled.search("invoice attached")
    assert hit.mailbox == "Inbox" and hit.from_ == "Alice <billing@shop.example>"


def test_operators(filled: AccountMail) -> None:
    assert subjects(filled, "from:billing@shop.example") == ["Invoice 2025-06"]
    assert subjects(filled, "from:shop.example") == ["Invoice 2025-06"]
    assert subjects(filled, "from:carol") == ["report"]
    assert subjects(filled, "to:bob@example.net ramen") == ["Old ramen review", "Lunch on Friday"]
    assert subjects(filled, "subject:ramen") == ["Old ramen review"]
    assert subjects(filled, "has:attachment") == ["report"]
    assert subjects(filled, "before:2021-01-01") == ["Old ramen review"]
    assert subjects(filled, "after:2025-06-02") == ["report", "Lunch on Friday"]
    assert subjects(filled, "after:2025-06-01 before:2025-06-02") == ["Invoice 2025-06"]
    assert subjects(filled, "ramen -cold") == ["Lunch on Friday"]
    assert subjects(filled, "-ramen") == ["report", "Invoice 2025-06"]
    assert subjects(filled, "") == []


@pytest.mark.parametrize(
    "query",
    [
        "'ramen' | 'cold'",
        "ramen & !cold",
        "ram:* <-> en",
        "'_a1'",
        '"ramen\\" OR cold',
        "NEAR(ramen cold)",
        "ramen:A",
    ],
)
def test_query_syntax_in_the_input_is_only_words(filled: AccountMail, query: str) -> None:
    """Operators of either index's language (FTS5, tsquery) in the search box
    are words like any other: no error, and nothing they would select."""
    words_only = subjects(filled, " ".join(re.findall(r"[^\W_]+", query)))
    assert subjects(filled, query) == words_only


def test_paging(filled: AccountMail) -> None:
    first = filled.search("to:bob", limit=2)
    assert [m.subject for m in first] == ["Old ramen review", "report"]
    rest = filled.search("to:bob", limit=2, before=first[-1].msgid)
    assert [m.subject for m in rest] == ["Invoice 2025-06", "Lunch on Friday"]


def test_moved_and_removed_messages(filled: AccountMail) -> None:
    [lunch] = filled.search("friday")
    filled.move(lunch.msgid, "Archive")
    assert [m.mailbox for m in filled.search("friday")] == ["Archive"]
    filled.remove(lunch.msgid)
    assert filled.search("friday") == []
    filled.delete_mailbox("Archive")
    assert filled.search("ramen") == []
    if isinstance(filled, AccountStore):  # the index rows went with the messages
        conn = filled._conn
        assert conn.execute("SELECT count(*) FROM message_fts").fetchone()[0] == 2


def downgrade(datadir: DataDir, count: int) -> None:
    """An account with *count* messages as an earlier release left it (schema 1)."""
    store = Store(datadir)
    acc = store.account("alice")
    for i in range(count - 1):
        acc.deliver_bytes("Inbox", mail(f"filler {i}", f"number{i} of the zanzibar series"))
    acc.deliver_bytes("Inbox", MULTIPART)
    path = acc.dir / INDEX_DB
    store.close()
    conn = sqlite3.connect(path)
    undo_modseq(conn)  # and the thread keys
    conn.execute("DROP TRIGGER message_fts_delete")
    conn.execute("DROP TABLE message_fts")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()


def wait_indexed(acc: AccountStore) -> None:
    deadline = time.monotonic() + 20
    while not acc.search_complete:
        assert time.monotonic() < deadline, "stored messages not indexed in 20 s"
        time.sleep(0.05)


def test_upgrade_indexes_existing_mail(datadir: DataDir) -> None:
    """An account index of schema version 1 (before the full-text index) is
    migrated on open at once; its messages are then indexed in the background,
    newest first, in chunks, and become searchable by their body text."""
    downgrade(datadir, 450)
    store = Store(datadir)
    try:
        acc = store.account("alice")
        assert acc._conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        wait_indexed(acc)
        assert subjects(acc, "number17") == ["filler 17"]
        assert subjects(acc, "croissants") == ["report"]
        assert subjects(acc, "from:carol has:attachment") == ["report"]
        assert len(acc.search("zanzibar", limit=1000)) == 449
        assert acc._conn.execute("SELECT count(*) FROM message_fts").fetchone()[0] == 450
    finally:
        store.close()


def test_backlog_chunks_skip_removed_messages_and_never_repeat(datadir: DataDir) -> None:
    """Two stores of the same account (as two processes) index the backlog at
    once; messages removed meanwhile are not indexed; every row exactly once."""
    downgrade(datadir, 30)
    one, two = Store(datadir), Store(datadir)
    try:
        a, b = one.account("alice"), two.account("alice")
        gone = a.list_messages("Inbox", limit=1, newest_first=False)[0]
        a.remove(gone.msgid)
        while a.index_backlog(limit=7) | b.index_backlog(limit=5):
            pass
        wait_indexed(a)
        wait_indexed(b)
        rows = a._conn.execute("SELECT rowid FROM message_fts ORDER BY rowid").fetchall()
        ids = [r[0] for r in rows]
        assert len(ids) == len(set(ids)) == 29
        assert gone.msgid not in ids
    finally:
        one.close()
        two.close()


def test_received_date_used_without_date_header(account: AccountMail) -> None:
    account.deliver_bytes(
        "Inbox",
        b"From: x@example.org\r\nSubject: undated\r\n\r\nbody\r\n",
        received=datetime(2019, 5, 1, tzinfo=UTC),
    )
    assert subjects(account, "before:2019-05-02 after:2019-05-01") == ["undated"]


@pytest.mark.parametrize(
    "message",
    [
        mail("plain", "Grüße aus Köln,\r\n  line two"),
        b"Subject: no type\r\n\r\nGr\xc3\xbc\xc3\x9fe aus K\xc3\xb6ln, line two\r\n",
        b"Content-Type: text/plain;\r\n charset=iso-8859-1\r\n\r\n"
        b"Gr\xfc\xdfe aus K\xf6ln, line two",
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"R3LDvMOfZSBhdXMgS8O2bG4sIGxpbmUgdHdv\r\n",
        b"Content-Type: text/plain; charset=x-unknown\r\n\r\nline two",
    ],
)
def test_fast_path_agrees_with_the_email_package(message: bytes) -> None:
    """Single-part plain text skips the email package: the same text either way."""
    import email
    import email.policy

    parsed = email.message_from_bytes(message, policy=email.policy.compat32)
    payload = parsed.get_payload(decode=True)
    assert isinstance(payload, bytes)
    charset = parsed.get_content_charset() or "us-ascii"
    try:
        expected = payload.decode(charset, errors="replace")
    except LookupError:
        expected = payload.decode("utf-8", errors="replace")
    assert body_text(message) == " ".join(expected.split())
