"""The PostgreSQL account store as the webmail sees it (postel.pg.accountmail):
what the shared tables must not mix up between accounts, and the calls the
SQLite store answers from its own file (the behaviour tests common to both
backends are in tests/store, fixture ``account``)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from pghelpers import LoopThread, open_migrated

from postel.pg.accountstore import PgStore
from postel.pg.migrate import migrate
from postel.pg.nodeparts import PgAccounts
from postel.pg.pool import connect
from postel.pg.schema import MIGRATIONS, WEBMAIL
from postel.pg.settings import PgSettings
from postel.pg.syncstore import LoopThreadError
from postel.store.errors import UnknownAccount


def _mail(subject: str, msgid: str, body: str, in_reply_to: str = "") -> bytes:
    head = f"From: carol@example.org\r\nSubject: {subject}\r\nMessage-ID: {msgid}\r\n"
    if in_reply_to:
        head += f"In-Reply-To: {in_reply_to}\r\n"
    return (head + f"\r\n{body}\r\n").encode()


def test_accounts_never_see_each_others_mail(
    loop_thread: LoopThread, pg_store: PgStore, tmp_path: Path
) -> None:
    accounts = PgAccounts(pg_store, loop_thread.loop, tmp_path / "bodies")
    alice, bob = accounts.account("alice"), accounts.account("bob")
    # The same message to both (one body row), then a reply that only bob has.
    root_a = alice.deliver_bytes("Inbox", _mail("Budget", "<b1@x>", "zanzibar figures"))
    root_b = bob.deliver_bytes("Inbox", _mail("Budget", "<b1@x>", "zanzibar figures"))
    reply_b = bob.deliver_bytes("Inbox", _mail("Re: Budget", "<b2@x>", "ok", "<b1@x>"))
    # Alice's next reply by subject alone joins her own thread, not bob's.
    reply_a = alice.deliver_bytes("Inbox", _mail("Re: Budget", "<b3@x>", "fine"))
    assert reply_b.thread == root_b.thread != root_a.thread
    assert reply_a.thread == root_a.thread
    assert [m.msgid for m in alice.search("zanzibar")] == [root_a.msgid]
    assert [m.msgid for m in bob.search("zanzibar")] == [root_b.msgid]
    assert [m.msgid for m in alice.search("-nothing")] == [reply_a.msgid, root_a.msgid]
    assert [m.msgid for m in alice.thread_messages(root_b.thread)] == []
    assert [t.messages for t in alice.list_threads("Inbox")] == [2]
    alice.remember_domain_security("Example.COM.", True, None)
    assert bob.domain_security("example.com").starttls is None
    seen = alice.domain_security("example.com")
    assert (seen.starttls, seen.requiretls) == (True, None) and seen.updated is not None
    alice.remember_domain_security("example.com", None, False)
    assert (
        alice.domain_security("example.com").starttls,
        alice.domain_security("example.com").requiretls,
    ) == (True, False)
    assert alice.check() == [] and bob.check() == []
    stats = alice.stats()
    assert (stats.messages, stats.mailboxes) == (2, 6)
    assert stats.message_bytes == alice.usage()


def test_accounts_are_looked_up_at_the_first_call(
    loop_thread: LoopThread, pg_store: PgStore, tmp_path: Path
) -> None:
    accounts = PgAccounts(pg_store, loop_thread.loop, tmp_path / "bodies")
    nobody = accounts.account("nobody", create=False)  # no wait here
    with pytest.raises(UnknownAccount):
        nobody.mailboxes()
    made = accounts.account("carol")
    assert made.mailbox("INBOX").name == "Inbox"
    msg = made.deliver_bytes("Inbox", _mail("x", "<c@x>", "hello"), keywords=["$Work"])
    assert msg.keywords == {"$Work"} and made.read_message(msg.msgid, 0, 4) == b"From"
    made.set_flags(msg.msgid, ["\\Deleted"])
    assert made.expunge("Inbox") == [msg.msgid] and made.mailbox("Inbox").total == 0

    async def on_the_loop() -> None:
        made.mailboxes()

    with pytest.raises(LoopThreadError):  # it would wait for itself forever
        loop_thread.run(on_the_loop())


def test_mail_stored_before_the_webmail_migration_is_found_and_threaded(
    loop_thread: LoopThread, pg_settings: PgSettings, tmp_path: Path
) -> None:
    """A message stored by the schema before (no thread key, no text index):
    after the migration it is its own thread, found by its subject and
    addresses, and a reply delivered now joins it."""
    data = _mail("Budget review", "<old@x>", "zanzibar")

    async def before() -> None:
        conn = await connect(pg_settings)
        try:
            await migrate(conn, where="db", migrations=MIGRATIONS[: MIGRATIONS.index(WEBMAIL)])
            cur = await conn.execute("INSERT INTO account (name) VALUES ('alice') RETURNING id")
            row = await cur.fetchone()
            assert row is not None
            cur = await conn.execute(
                "INSERT INTO mailbox (account_id, name, uidvalidity, uidnext, total, unseen, "
                "size, highestmodseq) VALUES (%s, 'Inbox', 1, 2, 1, 1, %s, 2) RETURNING id",
                (row[0], len(data)),
            )
            box = await cur.fetchone()
            assert box is not None
            digest = hashlib.sha256(data).digest()
            await conn.execute(
                "INSERT INTO body (sha256, size, data) VALUES (%s, %s, %s)",
                (digest, len(data), data),
            )
            await conn.execute(
                "INSERT INTO message (mailbox_id, uid, modseq, size, received, subject, "
                "from_addr, message_id, body) VALUES (%s, 1, 2, %s, now(), 'Budget review', "
                "'carol@example.org', '<old@x>', %s)",
                (box[0], len(data), digest),
            )
        finally:
            await conn.close()

    loop_thread.run(before())
    pool = loop_thread.run(open_migrated(pg_settings))
    try:
        alice = PgAccounts(PgStore(pool), loop_thread.loop, tmp_path / "b").account("alice")
        [old] = alice.search("subject:budget from:carol")
        assert old.thread == old.msgid
        assert alice.search("zanzibar") == []  # its body was not indexed
        reply = alice.deliver_bytes("Inbox", _mail("Re: Budget", "<new@x>", "ok", "<old@x>"))
        assert reply.thread == old.msgid
        assert [m.msgid for m in alice.thread_messages(old.msgid)] == [old.msgid, reply.msgid]
    finally:
        loop_thread.run(pool.close())
