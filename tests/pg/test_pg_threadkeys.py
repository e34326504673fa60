"""Thread keys on PostgreSQL through both ways a delivery is stored: the one
statement (postel.pg.newmessage) and the transaction that takes the
account's lock first (postel.pg.messages, used with a quota or a mailbox to
create). The same mail threads the same way through either, on the tricky
cases and when the parent commits while the reply waits for the account."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from pghelpers import LoopThread, wait_for_lock_waits
from psycopg_pool import AsyncConnectionPool

from postel.pg.accountstore import PgStore
from postel.pg.newmessage import insert_message, prepare
from postel.pg.pool import Conn
from postel.pg.settings import PgSettings
from postel.pg.syncconn import sync_connect

pytestmark = pytest.mark.timeout(120)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

# Each path's store: no quota (one statement), a quota (the account's lock first).
PATHS = {"one-statement": 0, "lock-first": 1 << 30}


def mail(msgid: str, subject: str, *, irt: str = "", refs: str = "") -> bytes:
    head = f"From: bob@example.org\r\nSubject: {subject}\r\nMessage-ID: {msgid}\r\n"
    if irt:
        head += f"In-Reply-To: {irt}\r\n"
    if refs:
        head += f"References: {refs}\r\n"
    return (head + "\r\nbody\r\n").encode()


# (name, message, received): each case's expected grouping is asserted below.
SEQUENCE = [
    ("root", mail("<a@x>", "hello"), T0),
    ("reply-by-irt", mail("<b@x>", "Re: hello", irt="<a@x>"), T0 + timedelta(hours=1)),
    ("other", mail("<o@x>", "other"), T0 + timedelta(hours=2)),
    # In-Reply-To names "other", References the first thread: In-Reply-To wins.
    (
        "irt-over-refs",
        mail("<c@x>", "Re: mixed", irt="<o@x>", refs="<a@x> <b@x>"),
        T0 + timedelta(hours=3),
    ),
    # Only References, the nearest (last) stored one counts.
    ("refs-only", mail("<d@x>", "Re: hello", refs="<zz@x> <b@x>"), T0 + timedelta(hours=4)),
    # Its parent is not stored: a thread by its base subject.
    ("missing-parent", mail("<e@x>", "Re: other", irt="<gone@x>"), T0 + timedelta(hours=5)),
    # Not a reply, same subject: a thread of its own.
    ("same-subject-not-reply", mail("<f@x>", "hello"), T0 + timedelta(hours=6)),
    # Subject only ("Re:"), no references: the newest "hello" thread.
    ("subject-only", mail("<g@x>", "RE: Hello"), T0 + timedelta(hours=7)),
    # Out of the subject window: a thread of its own.
    ("subject-too-late", mail("<h@x>", "Re: hello"), T0 + timedelta(days=90)),
    # A reply stored before its parent: the parent joins it.
    ("early-reply", mail("<j@x>", "Re: late", irt="<late@x>"), T0 + timedelta(days=91)),
    ("late-parent", mail("<late@x>", "late"), T0 + timedelta(days=91, hours=1)),
]

GROUPS = [
    {"root", "reply-by-irt", "refs-only"},
    {"other", "irt-over-refs", "missing-parent"},
    {"same-subject-not-reply", "subject-only"},
    {"subject-too-late"},
    {"early-reply", "late-parent"},
]


def _groups(threads: dict[str, int]) -> list[set[str]]:
    by: dict[int, set[str]] = {}
    for name, thread in threads.items():
        by.setdefault(thread, set()).add(name)
    return sorted(by.values(), key=lambda g: min(n for n, _, _ in SEQUENCE if n in g))


@pytest.mark.parametrize("path", PATHS)
def test_the_tricky_cases_thread_alike_through_both_paths(
    path: str, loop_thread: LoopThread, pool: AsyncConnectionPool[Conn]
) -> None:
    store = PgStore(pool, quota=lambda _: PATHS[path])
    loop_thread.run(store.create_account("alice"))
    threads = {}
    for name, data, when in SEQUENCE:
        msg = loop_thread.run(store.deliver("alice", "Inbox", data, received=when))
        threads[name] = msg.thread
    order = [n for n, _, _ in SEQUENCE]
    assert sorted(_groups(threads), key=lambda g: order.index(min(g, key=order.index))) == GROUPS


class _HeldPool:
    """One connection, inside a transaction the test ends, as a pool."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Conn]:
        yield self.conn


def _wait_for_a_lock_wait(pg_settings: PgSettings) -> None:
    """Until a session of the test database waits for a lock."""
    with sync_connect(pg_settings) as conn:
        wait_for_lock_waits(conn)


@pytest.mark.parametrize("path", PATHS)
def test_a_reply_waiting_for_its_parents_commit_joins_its_thread(
    path: str,
    loop_thread: LoopThread,
    pool: AsyncConnectionPool[Conn],
    pg_settings: PgSettings,
) -> None:
    store = PgStore(pool, quota=lambda _: PATHS[path])
    loop_thread.run(store.create_account("alice"))
    parent = mail("<p@x>", "plans")
    reply = mail("<r@x>", "Re: plans", irt="<p@x>")

    async def parent_held_while_the_reply_waits() -> tuple[int, int]:
        # The parent's delivery holds the account's lock, its message written,
        # not committed, when the reply's delivery starts.
        async with pool.connection() as conn, conn.transaction():
            first = await insert_message(
                cast(Any, _HeldPool(conn)),
                "alice",
                "Inbox",
                parent,
                prepare(parent, "alice"),
                flags=[],
                received=T0,
                requiretls=False,
            )
            assert first is not None
            second = asyncio.ensure_future(
                store.deliver("alice", "Inbox", reply, received=T0 + timedelta(minutes=5))
            )
            await asyncio.to_thread(_wait_for_a_lock_wait, pg_settings)
            assert not second.done()
        return first.thread, (await second).thread

    parent_thread, reply_thread = loop_thread.run(parent_held_while_the_reply_waits())
    assert reply_thread == parent_thread
