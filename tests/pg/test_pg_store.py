"""The PostgreSQL store as shared by several nodes: UIDs and modseqs under
concurrent deliveries, change notifications, bodies stored once."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from pghelpers import open_migrated
from psycopg_pool import AsyncConnectionPool

from postel.pg import notify
from postel.pg.accountstore import PgStore
from postel.pg.pool import Conn, connect
from postel.pg.settings import PgSettings
from postel.store.errors import MailboxNotFound

NODES = 3
PER_NODE = 40


def _mail(n: int, body: str = "") -> bytes:
    return f"Subject: {n}\r\nFrom: x@example.org\r\n\r\n{body or n}\r\n".encode()


@contextlib.asynccontextmanager
async def _pools(settings: PgSettings, n: int) -> AsyncIterator[list[AsyncConnectionPool[Conn]]]:
    pools = [await open_migrated(replace(settings, pool_max=4)) for _ in range(n)]
    try:
        yield pools
    finally:
        for pool in pools:
            await pool.close()


async def test_concurrent_deliveries_never_share_a_uid(pg_settings: PgSettings) -> None:
    """Three "nodes" (a pool of 4 connections each) deliver 40 messages each into
    one Inbox at once: UIDs 1..120 each once, modseqs rising with the UIDs."""
    async with _pools(pg_settings, NODES) as pools:
        stores = [PgStore(pool) for pool in pools]
        await stores[0].create_account("alice")

        async def node(i: int) -> list[tuple[int, int]]:
            out = []
            for k in range(0, PER_NODE, 4):
                msgs = await asyncio.gather(
                    *(
                        stores[i].deliver("alice", "Inbox", _mail(i * 1000 + k + j))
                        for j in range(4)
                    )
                )
                out.extend((m.uid, m.modseq) for m in msgs)
            return out

        results = await asyncio.gather(*(node(i) for i in range(NODES)))
        delivered = sorted(pair for r in results for pair in r)
        account = await stores[1].account("alice")
        box = await account.mailbox("Inbox")
        stored = await account.page("Inbox", 0, 1000)
    total = NODES * PER_NODE
    assert [uid for uid, _ in delivered] == list(range(1, total + 1))
    modseqs = [modseq for _, modseq in delivered]
    assert modseqs == sorted(set(modseqs)), "modseqs must rise strictly with the UIDs"
    assert [(m.uid, m.modseq) for m in stored] == delivered
    assert (box.uidnext, box.total, box.unseen) == (total + 1, total, total)
    assert box.highestmodseq == modseqs[-1]


async def test_notify_reaches_another_connection_within_a_second(
    pg_settings: PgSettings,
) -> None:
    async with _pools(pg_settings, 1) as (pool,):
        store = PgStore(pool)
        await store.create_account("alice")
        listener = await connect(pg_settings)
        try:
            heard = notify.listen(listener)
            first = asyncio.ensure_future(anext(heard))
            await asyncio.sleep(0.2)  # LISTEN is issued by the first step
            started = time.monotonic()
            msg = await store.deliver("alice", "Inbox", _mail(1))
            change = await asyncio.wait_for(first, 1.0)
            elapsed = time.monotonic() - started
        finally:
            await listener.close()
    assert change == notify.MailboxChanged("alice", "Inbox", msg.modseq)
    assert elapsed < 1.0


async def test_no_notification_for_a_rolled_back_change(pg_settings: PgSettings) -> None:
    async with _pools(pg_settings, 1) as (pool,):
        store = PgStore(pool)
        account = await store.create_account("alice")
        listener = await connect(pg_settings)
        try:
            heard = notify.listen(listener)
            first = asyncio.ensure_future(anext(heard))
            await asyncio.sleep(0.2)
            with pytest.raises(MailboxNotFound):
                await account.deliver("Nowhere", _mail(1))  # rolled back
            msg = await account.deliver("Inbox", _mail(2))
            change = await asyncio.wait_for(first, 1.0)
            inbox = await account.mailbox("Inbox")
        finally:
            await listener.close()
    assert change == notify.MailboxChanged("alice", "Inbox", msg.modseq)
    assert (msg.uid, inbox.uidnext) == (1, 2)


async def test_bodies_stored_once_and_dropped_with_last_message(
    pg_settings: PgSettings,
) -> None:
    async with _pools(pg_settings, 1) as (pool,):
        store = PgStore(pool)
        await store.create_account("alice")
        await store.create_account("bob")
        a = await store.deliver("alice", "Inbox", _mail(1))
        b = await store.deliver("bob", "Inbox", _mail(1))
        alice, bob = await store.account("alice"), await store.account("bob")

        async def bodies() -> int:
            async with pool.connection() as conn:
                cur = await conn.execute("SELECT count(*) FROM body")
                row = await cur.fetchone()
            assert row is not None
            return int(str(row[0]))

        assert await bodies() == 1
        await alice.remove(a.msgid)
        assert await bodies() == 1
        assert (await bob.body(b.msgid))[1] == _mail(1)
        await bob.remove(b.msgid)
        assert await bodies() == 0


async def test_removal_racing_a_delivery_of_the_same_content_keeps_the_body(
    pg_settings: PgSettings,
) -> None:
    """Alice's last copy of a content is removed while the same content is
    delivered to Bob, 30 times at once: Bob's message always keeps its body."""
    async with _pools(pg_settings, 2) as (one, two):
        store_a, store_b = PgStore(one), PgStore(two)
        alice = await store_a.create_account("alice")
        bob = await store_b.create_account("bob")
        for n in range(30):
            data = _mail(n, "same content")
            old = await alice.deliver("Inbox", data)
            _, new = await asyncio.gather(alice.remove(old.msgid), bob.deliver("Inbox", data))
            assert (await bob.body(new.msgid))[1] == data
        assert (await bob.mailbox("Inbox")).total == 30


async def test_accounts_do_not_see_each_others_messages(pg_settings: PgSettings) -> None:
    async with _pools(pg_settings, 1) as (pool,):
        store = PgStore(pool)
        await store.create_account("alice")
        await store.create_account("bob")
        msg = await store.deliver("alice", "Inbox", _mail(1))
        bob = await store.account("bob")
        from postel.store.errors import MessageNotFound

        for attempt in (bob.get(msg.msgid), bob.remove(msg.msgid), bob.body(msg.msgid)):
            with pytest.raises(MessageNotFound):
                await attempt
        assert (await store.account("alice")).id != bob.id


async def test_delivery_creates_a_missing_mailbox(pg_settings: PgSettings) -> None:
    async with _pools(pg_settings, 1) as (pool,):
        store = PgStore(pool)
        await store.create_account("alice")
        msg = await store.deliver("alice", "Lists/postel", _mail(1))
        box = await (await store.account("alice")).mailbox("Lists/postel")
    assert (msg.uid, box.total, box.uidnext) == (1, 1, 2)


def test_listen_skips_foreign_payloads() -> None:
    with pytest.raises(notify.BadNotification):
        notify.decode("hello")
    with pytest.raises(notify.BadNotification):
        notify.decode('{"a": "x", "m": "Inbox", "s": "1"}')
    change = notify.MailboxChanged("alice", "Ünïcode/box", 7)
    assert notify.decode(notify.encode(change)) == change
