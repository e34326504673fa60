"""Web sessions kept in PostgreSQL (postel.pg.websessions): what one node
makes, another knows, with the rules of the in-memory store."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator

import pytest
from pghelpers import open_migrated
from psycopg_pool import AsyncConnectionPool

from postel.pg.pool import Conn
from postel.pg.settings import PgSettings
from postel.pg.websessions import PgSessionsBlocking, PgSessionStore


@pytest.fixture
async def pools(pg_settings: PgSettings) -> AsyncIterator[list[AsyncConnectionPool[Conn]]]:
    """Two nodes' pools on one database."""
    a = await open_migrated(pg_settings)
    b = await open_migrated(pg_settings)
    yield [a, b]
    await a.close()
    await b.close()


async def test_a_session_made_on_one_node_is_known_on_another(
    pools: list[AsyncConnectionPool[Conn]],
) -> None:
    a, b = PgSessionStore(pools[0], "webmail"), PgSessionStore(pools[1], "webmail")
    form = await a.anew(client="192.0.2.1")  # the login form's session, on node A
    seen = await b.aget(form.id)
    assert seen is not None and seen.csrf == form.csrf and not seen.authenticated
    # Login on B: a new id and token; the form's id stops working everywhere.
    user = await b.alogin(seen, "alice", {"address": "alice@example.com"})
    assert user.id != form.id and user.csrf != form.csrf
    assert await a.aget(form.id) is None
    got = await a.aget(user.id)
    assert got is not None
    assert (got.user, got.csrf, got.data) == ("alice", user.csrf, {"address": "alice@example.com"})
    assert await a.aalive(user.id)
    # Logout on A ends it on B.
    await a.adelete(user.id)
    assert await b.aget(user.id) is None and not await b.aalive(user.id)


async def test_scopes_are_apart_and_ids_are_not_stored(
    pools: list[AsyncConnectionPool[Conn]],
) -> None:
    webmail, admin = PgSessionStore(pools[0], "webmail"), PgSessionStore(pools[1], "admin")
    s = await webmail.anew("alice")
    assert await admin.aget(s.id) is None  # a webmail session is no admin session
    async with pools[0].connection() as conn:
        cur = await conn.execute("SELECT id_hash FROM web_session")
        rows = await cur.fetchall()
    assert rows == [(hashlib.sha256(s.id.encode()).digest(),)]


async def test_idle_sessions_expire(pools: list[AsyncConnectionPool[Conn]]) -> None:
    store = PgSessionStore(pools[0], "admin", idle=0.5)
    s = await store.anew("admin")
    assert await store.aget(s.id) is not None
    await asyncio.sleep(1.0)
    assert not await store.aalive(s.id)
    assert await store.aget(s.id) is None


async def test_budgets_drop_the_owners_oldest_first(
    pools: list[AsyncConnectionPool[Conn]],
) -> None:
    store = PgSessionStore(pools[0], "webmail", max_per_user=2, max_anonymous_per_client=2)
    first = await store.anew("alice")
    second = await store.anew("alice")
    bob = await store.anew("bob")
    third = await store.anew("alice")
    assert await store.aget(first.id) is None
    assert all([await store.aget(x.id) for x in (second, third, bob)])
    forms = [await store.anew(client="198.51.100.7") for _ in range(3)]
    assert await store.aget(forms[0].id) is None and await store.aget(forms[2].id) is not None
    assert await store.aget(third.id) is not None  # anonymous sessions never push out users


async def test_the_blocking_methods_are_refused(pools: list[AsyncConnectionPool[Conn]]) -> None:
    store = PgSessionStore(pools[0], "admin")
    with pytest.raises(PgSessionsBlocking):
        store.get("x")
