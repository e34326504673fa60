"""The sweep of body rows no message names (postel.pg.bodysweep) on the test
cluster: an old row no message names goes, a fresh one and a named one stay;
a delivery of the same content at the same moment, in either order against
the sweep's lock, ends with its body; the object of a removed row is then
deleted by the object store's sweep; the node's housekeeping and `postel
sweep-objects` run it."""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner
from pghelpers import LoopThread, wait_for_lock_waits
from psycopg_pool import AsyncConnectionPool
from s3server import S3Server, age_objects
from test_pg_objectstore import _config, object_store_config

from pgcluster import Cluster
from postel.cli.main import cli
from postel.config.model import StorageConfig
from postel.pg.accountstore import PgStore
from postel.pg.bodysweep import delete_locked, lock_unnamed, run_body_sweep, sweep_bodies
from postel.pg.housekeeping import Housekeeping
from postel.pg.migrate import BODY_SWEEP_LOCK
from postel.pg.objectstore import ObjectStore
from postel.pg.objectsweep import sweep_objects
from postel.pg.pool import Conn
from postel.pg.settings import PgSettings
from postel.pg.syncconn import sync_connect
from postel.pg.verify import verify_pg
from postel.store.message import Message

pytestmark = pytest.mark.timeout(120)

GRACE = 3600.0
NAMED = b"From: bob@example.org\r\nSubject: named\r\n\r\nstill in the inbox\r\n"
LEFT = b"From: bob@example.org\r\nSubject: left\r\n\r\nkept by a deadlock\r\n"
FRESH = b"From: bob@example.org\r\nSubject: fresh\r\n\r\njust written\r\n"


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _sql(lt: LoopThread, pool: AsyncConnectionPool[Conn], query: str, *args: object) -> None:
    async def run() -> None:
        async with pool.connection() as conn:
            await conn.execute(query, args or None)

    lt.run(run())


def _rows(lt: LoopThread, pool: AsyncConnectionPool[Conn]) -> set[bytes]:
    async def run() -> set[bytes]:
        async with pool.connection() as conn:
            cur = await conn.execute("SELECT sha256 FROM body")
            return {bytes(r[0]) for r in await cur.fetchall()}

    return lt.run(run())


def _leftover(
    lt: LoopThread, pool: AsyncConnectionPool[Conn], data: bytes, *, inline: bool = True
) -> None:
    """A body row no message names, as a removal that met a deadlock leaves it."""
    _sql(
        lt,
        pool,
        "INSERT INTO body (sha256, size, data) VALUES (%s, %s, %s)",
        sha(data),
        len(data),
        data if inline else None,
    )


def _age_rows(lt: LoopThread, pool: AsyncConnectionPool[Conn]) -> None:
    """Two grace periods pass for every body row."""
    _sql(lt, pool, f"UPDATE body SET touched = touched - interval '{int(2 * GRACE)} seconds'")


def test_an_old_row_no_message_names_goes_and_the_rest_stay(
    loop_thread: LoopThread, pool: AsyncConnectionPool[Conn], pg_settings: PgSettings
) -> None:
    store = PgStore(pool)
    loop_thread.run(store.create_account("alice"))
    loop_thread.run(store.deliver("alice", "Inbox", NAMED))
    _leftover(loop_thread, pool, LEFT)
    _age_rows(loop_thread, pool)
    _leftover(loop_thread, pool, FRESH)  # within the grace period: a delivery may name it
    report = loop_thread.run(sweep_bodies(pool, grace=GRACE, dry_run=True))
    assert report.removed == [sha(LEFT)] and report.looked == 3
    assert _rows(loop_thread, pool) == {sha(NAMED), sha(LEFT), sha(FRESH)}
    report = loop_thread.run(sweep_bodies(pool, grace=GRACE))
    assert report.removed == [sha(LEFT)] and report.in_objects == []
    assert report.next_after is None and report.pages == 1
    assert _rows(loop_thread, pool) == {sha(NAMED), sha(FRESH)}
    with sync_connect(pg_settings) as conn:
        assert verify_pg(conn, "pg").problems == []
    # The same content delivered again is stored and read as before.
    again = loop_thread.run(store.deliver("alice", "Inbox", LEFT))
    account = loop_thread.run(store.account("alice"))
    assert loop_thread.run(account.body(again.msgid))[1] == LEFT


def test_a_delivery_of_the_same_content_makes_a_row_young_again(
    loop_thread: LoopThread, pool: AsyncConnectionPool[Conn]
) -> None:
    store = PgStore(pool)
    loop_thread.run(store.create_account("alice"))
    msg = loop_thread.run(store.deliver("alice", "Inbox", LEFT))
    _age_rows(loop_thread, pool)
    loop_thread.run(store.deliver("alice", "Inbox", LEFT))  # the upsert touches the row
    account = loop_thread.run(store.account("alice"))
    loop_thread.run(account.remove(msg.msgid))
    _sql(loop_thread, pool, "DELETE FROM message")  # both gone, the row left behind
    assert loop_thread.run(sweep_bodies(pool, grace=GRACE)).removed == []
    _age_rows(loop_thread, pool)
    assert loop_thread.run(sweep_bodies(pool, grace=GRACE)).removed == [sha(LEFT)]


def test_the_sweep_works_a_page_at_a_time(
    loop_thread: LoopThread, pool: AsyncConnectionPool[Conn]
) -> None:
    bodies = [LEFT + b"%d\r\n" % i for i in range(5)]
    for data in bodies:
        _leftover(loop_thread, pool, data)
    _age_rows(loop_thread, pool)
    first = loop_thread.run(sweep_bodies(pool, grace=GRACE, pages=1, page_rows=2))
    assert len(first.removed) == 2 and first.next_after is not None
    rest = loop_thread.run(sweep_bodies(pool, grace=GRACE, after=first.next_after, page_rows=2))
    assert rest.next_after is None and rest.pages == 2
    assert sorted(first.removed + rest.removed) == sorted(sha(d) for d in bodies)
    assert _rows(loop_thread, pool) == set()


def _wait_for_a_lock_wait(pg_settings: PgSettings) -> None:
    """Until a session of the test database waits for a lock."""
    with sync_connect(pg_settings) as conn:
        wait_for_lock_waits(conn)


def test_a_delivery_holding_the_row_keeps_it_from_the_sweep(
    loop_thread: LoopThread, pool: AsyncConnectionPool[Conn], pg_settings: PgSettings
) -> None:
    store = PgStore(pool)
    loop_thread.run(store.create_account("alice"))
    _leftover(loop_thread, pool, LEFT)
    _age_rows(loop_thread, pool)
    with sync_connect(pg_settings) as other:
        # Hold the inbox's row: the delivery below writes (and locks) the body
        # row, then waits for the mailbox before its message row.
        other.execute("BEGIN")
        held = other.execute("SELECT 1 FROM mailbox WHERE name = 'Inbox' FOR UPDATE")
        assert held.fetchall() == [(1,)]
        delivery = asyncio.run_coroutine_threadsafe(
            store.deliver("alice", "Inbox", LEFT), loop_thread.loop
        )
        _wait_for_a_lock_wait(pg_settings)
        report = loop_thread.run(sweep_bodies(pool, grace=GRACE))
        assert report.removed == [] and report.looked == 1
        other.execute("COMMIT")
    msg = delivery.result(30)
    account = loop_thread.run(store.account("alice"))
    assert loop_thread.run(account.body(msg.msgid))[1] == LEFT
    with sync_connect(pg_settings) as conn:
        assert verify_pg(conn, "pg").problems == []


@pytest.mark.parametrize("in_objects", [False, True], ids=["inline", "object-store"])
def test_a_delivery_waiting_for_the_sweeps_lock_writes_its_body_again(
    in_objects: bool,
    loop_thread: LoopThread,
    pool: AsyncConnectionPool[Conn],
    pg_settings: PgSettings,
    request: pytest.FixtureRequest,
) -> None:
    objects: ObjectStore | None = request.getfixturevalue("objects") if in_objects else None
    store = PgStore(pool, objects)
    loop_thread.run(store.create_account("alice"))
    if objects is not None:
        objects.put(sha(LEFT), LEFT)
    _leftover(loop_thread, pool, LEFT, inline=objects is None)
    _age_rows(loop_thread, pool)

    async def sweep_held_between_lock_and_delete() -> tuple[
        list[tuple[bytes, bool]], concurrent.futures.Future[Message]
    ]:
        async with pool.connection() as conn, conn.transaction():
            locked = await lock_unnamed(conn, [sha(LEFT)], GRACE)
            assert locked == [sha(LEFT)]
            delivery = asyncio.run_coroutine_threadsafe(
                store.deliver("alice", "Inbox", LEFT), loop_thread.loop
            )
            await asyncio.to_thread(_wait_for_a_lock_wait, pg_settings)
            assert not delivery.done()
            gone = await delete_locked(conn, locked)
        return gone, delivery

    gone, delivery = loop_thread.run(sweep_held_between_lock_and_delete())
    assert gone == [(sha(LEFT), objects is not None)]
    msg = delivery.result(30)
    account = loop_thread.run(store.account("alice"))
    assert loop_thread.run(account.body(msg.msgid))[1] == LEFT
    assert _rows(loop_thread, pool) == {sha(LEFT)}
    if objects is not None:
        # The object stays: a row names it again.
        age_objects(objects.settings.bucket, 2 * GRACE)
        _sql(loop_thread, pool, "UPDATE body_put SET since = '-infinity'")
        assert loop_thread.run(sweep_objects(pool, objects, grace=GRACE)).deleted == []
    with sync_connect(pg_settings) as conn:
        assert verify_pg(conn, "pg", objects=objects).problems == []


def _named_and_left_in_objects(
    loop_thread: LoopThread, pool: AsyncConnectionPool[Conn], objects: ObjectStore
) -> None:
    """alice's message NAMED, and a body row LEFT no message names, both with
    their content in *objects*, everything older than GRACE."""
    store = PgStore(pool, objects)
    loop_thread.run(store.create_account("alice"))
    loop_thread.run(store.deliver("alice", "Inbox", NAMED))
    objects.put(sha(LEFT), LEFT)
    _leftover(loop_thread, pool, LEFT, inline=False)
    _age_rows(loop_thread, pool)
    age_objects(objects.settings.bucket, 2 * GRACE)
    _sql(loop_thread, pool, "UPDATE body_put SET since = '-infinity'")


def test_the_object_of_a_removed_row_goes_with_the_object_sweep(
    loop_thread: LoopThread,
    pool: AsyncConnectionPool[Conn],
    pg_settings: PgSettings,
    objects: ObjectStore,
) -> None:
    _named_and_left_in_objects(loop_thread, pool, objects)
    # While the row is there, its object stays.
    assert loop_thread.run(sweep_objects(pool, objects, grace=GRACE)).deleted == []
    report = loop_thread.run(run_body_sweep(pool, grace=GRACE))
    assert report is not None and report.in_objects == [sha(LEFT)]
    assert loop_thread.run(sweep_objects(pool, objects, grace=GRACE)).deleted == [sha(LEFT)]
    assert objects.size(sha(LEFT)) is None and objects.size(sha(NAMED)) == len(NAMED)
    with sync_connect(pg_settings) as conn:
        assert verify_pg(conn, "pg", objects=objects).problems == []


def test_one_node_sweeps_body_rows_at_a_time(
    loop_thread: LoopThread, pool: AsyncConnectionPool[Conn], pg_settings: PgSettings
) -> None:
    with sync_connect(pg_settings) as other:
        other.execute("SELECT pg_advisory_lock(%s)", (BODY_SWEEP_LOCK,))
        assert loop_thread.run(run_body_sweep(pool, grace=GRACE)) is None
        other.execute("SELECT pg_advisory_unlock(%s)", (BODY_SWEEP_LOCK,))
    assert loop_thread.run(run_body_sweep(pool, grace=GRACE)) is not None


def test_the_node_sweeps_body_rows_periodically(
    tmp_path: Path, loop_thread: LoopThread, pool: AsyncConnectionPool[Conn]
) -> None:
    _leftover(loop_thread, pool, LEFT)
    _age_rows(loop_thread, pool)
    jobs = Housekeeping(pool, tmp_path / "cache", 1 << 20, body_sweep_every=0.2, body_grace=600)

    async def run_a_while() -> None:
        task = asyncio.create_task(jobs.run())
        await asyncio.sleep(1.0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    loop_thread.run(run_a_while())
    assert _rows(loop_thread, pool) == set()


def test_sweep_objects_command_removes_body_rows_first(
    tmp_path: Path,
    loop_thread: LoopThread,
    pool: AsyncConnectionPool[Conn],
    pg_cluster: Cluster,
    pg_database: str,
    objects: ObjectStore,
    s3: S3Server,
) -> None:
    d = object_store_config(
        tmp_path / "conf",
        pg_cluster,
        pg_database,
        s3,
        objects,
        storage="body_sweep_grace = 600\n",
        object_store="sweep_grace = 600\n",
    )
    _named_and_left_in_objects(loop_thread, pool, objects)
    result = CliRunner().invoke(cli, ["sweep-objects", "--config", str(d), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "2 body rows looked at, 1 no message names to remove (dry run)" in result.output
    assert _rows(loop_thread, pool) == {sha(NAMED), sha(LEFT)}
    result = CliRunner().invoke(cli, ["sweep-objects", "--config", str(d)])
    assert result.exit_code == 0, result.output
    assert "2 body rows looked at, 1 no message names removed" in result.output
    assert f"deleted bodies/{sha(LEFT).hex()}" in result.output
    assert _rows(loop_thread, pool) == {sha(NAMED)}
    assert objects.size(sha(LEFT)) is None and objects.size(sha(NAMED)) == len(NAMED)
    # Without an object store: the rows, and one line saying there are no objects.
    _leftover(loop_thread, pool, FRESH)
    _age_rows(loop_thread, pool)
    bare = _config(tmp_path / "bare", pg_cluster, pg_database, "body_sweep_grace = 600\n")
    result = CliRunner().invoke(cli, ["sweep-objects", "--config", str(bare)])
    assert result.exit_code == 0 and "Traceback" not in result.output
    assert "2 body rows looked at, 1 no message names removed" in result.output
    assert "no [storage.object_store] endpoint: no objects" in result.output
    assert _rows(loop_thread, pool) == {sha(NAMED)}


def test_body_sweep_options() -> None:
    assert StorageConfig().body_sweep_every == 3600
    assert StorageConfig().body_sweep_grace == 86400
    with pytest.raises(ValueError, match="greater than or equal"):
        StorageConfig(body_sweep_grace=10)
