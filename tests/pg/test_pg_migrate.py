"""Forward migrations of the PostgreSQL store: once, concurrently, refused when newer."""

from __future__ import annotations

import asyncio

import pytest

from postel.pg.errors import PgMigrationFailed, PgSchemaTooNew
from postel.pg.migrate import migrate, schema_version
from postel.pg.pool import connect
from postel.pg.schema import MIGRATIONS
from postel.pg.settings import PgSettings


async def test_fresh_database_migrates_to_the_latest_version(pg_settings: PgSettings) -> None:
    conn = await connect(pg_settings)
    try:
        assert await schema_version(conn) == 0
        assert await migrate(conn, where="db") == len(MIGRATIONS)
        assert await schema_version(conn) == len(MIGRATIONS)
        assert await migrate(conn, where="db") == len(MIGRATIONS)  # nothing to do
        cur = await conn.execute("SELECT count(*) FROM schema_version")
        assert await cur.fetchone() == (1,)
    finally:
        await conn.close()


async def test_nodes_migrating_at_once_migrate_once(pg_settings: PgSettings) -> None:
    conns = [await connect(pg_settings) for _ in range(4)]
    try:
        versions = await asyncio.gather(*(migrate(c, where="db") for c in conns))
        assert versions == [len(MIGRATIONS)] * 4
    finally:
        for c in conns:
            await c.close()


async def test_each_step_in_its_own_transaction(pg_settings: PgSettings) -> None:
    steps = ["CREATE TABLE a (x int)", "CREATE TABLE b (x int); SELECT 1/0"]
    conn = await connect(pg_settings)
    try:
        with pytest.raises(PgMigrationFailed, match="db: migration to version 2 failed: division"):
            await migrate(conn, where="db", migrations=steps)
        assert await schema_version(conn) == 1
        cur = await conn.execute("SELECT to_regclass('a') IS NOT NULL, to_regclass('b') IS NULL")
        assert await cur.fetchone() == (True, True)
    finally:
        await conn.close()


async def test_newer_schema_is_refused(pg_settings: PgSettings) -> None:
    conn = await connect(pg_settings)
    try:
        await migrate(conn, where="db")
        await conn.execute("UPDATE schema_version SET version = 99")
        with pytest.raises(PgSchemaTooNew, match="db: schema version 99 is newer"):
            await migrate(conn, where="db")
    finally:
        await conn.close()


async def test_default_mailboxes_of_earlier_accounts_get_their_special_use(
    pg_settings: PgSettings,
) -> None:
    from postel.pg.schema import SPECIAL_USE

    before = MIGRATIONS[: MIGRATIONS.index(SPECIAL_USE)]
    conn = await connect(pg_settings)
    try:
        await migrate(conn, where="db", migrations=before)
        await conn.execute("INSERT INTO account (name) VALUES ('old')")
        await conn.execute(
            "INSERT INTO mailbox (account_id, name, uidvalidity) "
            "SELECT id, unnest(ARRAY['Inbox', 'Sent', 'Trash', 'Lists']), 1 FROM account"
        )
        await migrate(conn, where="db")
        cur = await conn.execute("SELECT name, special_use FROM mailbox ORDER BY name")
        assert await cur.fetchall() == [
            ("Inbox", ""),
            ("Lists", ""),
            ("Sent", "\\Sent"),
            ("Trash", "\\Trash"),
        ]
    finally:
        await conn.close()
