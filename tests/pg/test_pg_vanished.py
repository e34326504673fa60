"""The count of removed UIDs each PostgreSQL mailbox keeps (vanished_rows,
which tells the removing transactions when to trim): made by the migration
from the rows listed before it, and checked by the account's check."""

from __future__ import annotations

from pghelpers import LoopThread

from postel.pg.accountstore import PgStore
from postel.pg.migrate import migrate
from postel.pg.pool import connect
from postel.pg.schema import MIGRATIONS, VANISHED_ROWS
from postel.pg.settings import PgSettings

MSG = b"From: a@example.org\r\nSubject: s\r\n\r\nbody\r\n"


async def test_the_migration_counts_the_removed_uids_listed_before(
    pg_settings: PgSettings,
) -> None:
    conn = await connect(pg_settings)
    try:
        # The schema as it was just before the migration that counts them.
        before = MIGRATIONS[: MIGRATIONS.index(VANISHED_ROWS)]
        await migrate(conn, where="db", migrations=before)
        await conn.execute("INSERT INTO account (name) VALUES ('alice')")
        await conn.execute(
            "INSERT INTO mailbox (account_id, name, uidvalidity, uidnext) "
            "SELECT id, 'Inbox', 1, 100 FROM account"
        )
        await conn.execute(
            "INSERT INTO vanished (mailbox_id, uid, modseq) "
            "SELECT id, g, g FROM mailbox, generate_series(1, 7) g"
        )
        await migrate(conn, where="db")
        cur = await conn.execute("SELECT vanished_rows FROM mailbox")
        assert await cur.fetchall() == [(7,)]
    finally:
        await conn.close()


def test_check_finds_a_wrong_count(loop_thread: LoopThread, pg_store: PgStore) -> None:
    acc = loop_thread.run(pg_store.create_account("alice"))
    msg = loop_thread.run(acc.deliver("Inbox", MSG))
    loop_thread.run(acc.remove(msg.msgid))
    assert loop_thread.run(acc.check()) == []

    async def damage() -> None:
        async with pg_store.pool.connection() as conn:
            await conn.execute("UPDATE mailbox SET vanished_rows = 5 WHERE name = 'Inbox'")

    loop_thread.run(damage())
    problems = loop_thread.run(acc.check())
    assert any("'Inbox' counts 5 removed UIDs but keeps 1" in p for p in problems), problems
