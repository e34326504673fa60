"""Round trips to PostgreSQL per delivery: each one is a network latency
between a node and the database, paid before SMTP can answer 250. Counted
from libpq's protocol trace of the node's one connection (a turn from
sending to receiving is one round trip)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest
from pghelpers import open_migrated
from psycopg import pq

from postel.pg.accountstore import PgStore
from postel.pg.nodeparts import PgAccounts
from postel.pg.settings import PgSettings
from postel.store.errors import MailboxNotFound


def _mail(n: int) -> bytes:
    return f"Subject: {n}\r\nFrom: x@example.org\r\nMessage-ID: <{n}@x>\r\n\r\nhello\r\n".encode()


def round_trips(trace: str) -> int:
    """Turns from the client (F) sending to the server (B) answering."""
    turns, last = 0, ""
    for line in trace.splitlines():
        side = line[:1]
        if side == "B" and last == "F":
            turns += 1
        if side in ("F", "B"):
            last = side
    return turns


async def _traced_delivery(settings: PgSettings, tmp_path: Path) -> tuple[int, list[int]]:
    """(round trips of one delivery into an existing account and mailbox, UIDs)."""
    pool = await open_migrated(replace(settings, pool_min=1, pool_max=1))
    try:
        accounts = PgAccounts(PgStore(pool), asyncio.get_running_loop(), tmp_path / "bodies")
        first, error = await accounts.deliver_bytes([("alice", "Inbox")], _mail(1))
        assert error is None
        trace_file = tmp_path / "trace"
        with open(trace_file, "w") as out:
            async with pool.connection() as conn:  # the pool's only connection
                conn.pgconn.trace(out.fileno())
                conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
            second, error = await accounts.deliver_bytes([("alice", "Inbox")], _mail(2))
            assert error is None
            async with pool.connection() as conn:
                conn.pgconn.untrace()
        uids = [m.uid for _, m in first + second]
        return round_trips(trace_file.read_text()), uids
    finally:
        await pool.close()


async def test_a_delivery_into_an_existing_mailbox_takes_one_round_trip(
    pg_settings: PgSettings, tmp_path: Path
) -> None:
    """The statements of the delivery go out together; the commit follows once
    the message row is known to be written."""
    trips, uids = await _traced_delivery(pg_settings, tmp_path)
    assert uids == [1, 2]
    assert trips == 1, f"{trips} round trips for one delivery"


async def test_a_delivery_to_a_missing_mailbox_writes_nothing(pg_settings: PgSettings) -> None:
    """The statements sent together are rolled back when the mailbox is missing:
    no body, no modseq used, and a later delivery gets the next UID as usual."""
    pool = await open_migrated(pg_settings)
    try:
        store = PgStore(pool)
        alice = await store.create_account("alice")

        async def state() -> tuple[object, ...]:
            async with pool.connection() as conn:
                cur = await conn.execute(
                    "SELECT (SELECT modseq FROM account WHERE name = 'alice'),"
                    " (SELECT count(*) FROM body), (SELECT count(*) FROM message)"
                )
                row = await cur.fetchone()
            assert row is not None
            return tuple(row)

        before = await state()
        with pytest.raises(MailboxNotFound):
            await alice.deliver("Nowhere", _mail(1))
        assert await state() == before
        msg = await alice.deliver("Inbox", _mail(2))
        assert msg.uid == 1
    finally:
        await pool.close()
