"""The object store's sweep (postel.pg.objectsweep), against a real S3 server on
loopback (moto, server mode) and the test cluster: objects no body row names
go, once older than the grace period; objects a row names, recent ones and
those of a delivery between its PUT and its commit stay; a delivery that
records its PUT while the sweep deletes the same object writes it again."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from pghelpers import LoopThread
from psycopg_pool import AsyncConnectionPool
from s3server import SECRET, S3Server, age_objects
from test_pg_objectstore import _config, object_store_config

from pgcluster import Cluster
from postel.cli.main import cli
from postel.pg.accountstore import PgStore
from postel.pg.migrate import OBJECT_SWEEP_LOCK
from postel.pg.objectstore import ObjectStore
from postel.pg.objectsweep import run_sweep, sweep_objects
from postel.pg.pool import Conn
from postel.pg.settings import PgSettings
from postel.pg.syncconn import sync_connect
from postel.pg.verify import verify_pg

pytestmark = pytest.mark.timeout(120)

GRACE = 3600.0
KEPT = b"From: bob@example.org\r\nSubject: kept\r\n\r\nstill named\r\n"
GONE = b"From: bob@example.org\r\nSubject: gone\r\n\r\nremoved long ago\r\n"


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _sql(lt: LoopThread, pool: AsyncConnectionPool[Conn], query: str) -> None:
    async def run() -> None:
        async with pool.connection() as conn:
            await conn.execute(query)

    lt.run(run())


def _age_everything(lt: LoopThread, pool: AsyncConnectionPool[Conn], objects: ObjectStore) -> None:
    """Two grace periods pass: the objects and the deliveries' records are old."""
    age_objects(objects.settings.bucket, 2 * GRACE)
    _sql(lt, pool, f"UPDATE body_put SET since = since - interval '{int(2 * GRACE)} seconds'")


def _deliver_and_remove(lt: LoopThread, store: PgStore, data: bytes) -> None:
    msg = lt.run(store.deliver("alice", "Inbox", data))
    account = lt.run(store.account("alice"))
    lt.run(account.remove(msg.msgid))


def test_sweep_deletes_objects_no_row_names_and_keeps_the_rest(
    loop_thread: LoopThread,
    pool: AsyncConnectionPool[Conn],
    pg_settings: PgSettings,
    objects: ObjectStore,
) -> None:
    store = PgStore(pool, objects)
    loop_thread.run(store.create_account("alice"))
    loop_thread.run(store.deliver("alice", "Inbox", KEPT))
    _deliver_and_remove(loop_thread, store, GONE)
    # Not a body's name: not postel's, never touched.
    objects._client.put_object(Bucket=objects.settings.bucket, Key="bodies/README", Body=b"x")
    # Young objects stay, even with no row.
    report = loop_thread.run(sweep_objects(pool, objects, grace=GRACE))
    assert report.deleted == [] and report.recent == 2
    assert objects.size(sha(GONE)) == len(GONE)
    # The record of a delivery that failed before its PUT (no object).
    _sql(loop_thread, pool, "INSERT INTO body_put VALUES (sha256('none'), now())")
    _age_everything(loop_thread, pool, objects)
    report = loop_thread.run(sweep_objects(pool, objects, grace=GRACE, dry_run=True))
    assert report.deleted == [sha(GONE)]
    assert objects.size(sha(GONE)) == len(GONE)  # a dry run deletes nothing
    report = loop_thread.run(sweep_objects(pool, objects, grace=GRACE))
    assert report.deleted == [sha(GONE)] and report.named == 1 and report.next_after is None
    assert objects.size(sha(GONE)) is None
    assert objects.size(sha(KEPT)) == len(KEPT)
    assert objects._client.head_object(Bucket=objects.settings.bucket, Key="bodies/README")
    # Old records went: those of listed objects with their page, the rest after.
    assert report.forgotten == 1

    async def records() -> int:
        async with pool.connection() as conn:
            cur = await conn.execute("SELECT count(*) FROM body_put")
            row = await cur.fetchone()
            assert row is not None
            return int(str(row[0]))

    assert loop_thread.run(records()) == 0
    with sync_connect(pg_settings) as conn:
        assert verify_pg(conn, "pg", objects=objects).problems == []
    # The same content delivered again is stored and read as before.
    again = loop_thread.run(store.deliver("alice", "Inbox", GONE))
    account = loop_thread.run(store.account("alice"))
    assert loop_thread.run(account.body(again.msgid))[1] == GONE


def test_sweep_works_a_page_at_a_time(
    loop_thread: LoopThread, pool: AsyncConnectionPool[Conn], objects: ObjectStore
) -> None:
    store = PgStore(pool, objects)
    loop_thread.run(store.create_account("alice"))
    bodies = [GONE + b"%d\r\n" % i for i in range(5)]
    for data in bodies:
        _deliver_and_remove(loop_thread, store, data)
    _age_everything(loop_thread, pool, objects)
    first = loop_thread.run(sweep_objects(pool, objects, grace=GRACE, pages=1, page_size=2))
    assert len(first.deleted) == 2 and first.next_after is not None
    rest = loop_thread.run(
        sweep_objects(pool, objects, grace=GRACE, after=first.next_after, page_size=2)
    )
    assert rest.next_after is None and rest.pages == 2
    assert sorted(first.deleted + rest.deleted) == sorted(sha(d) for d in bodies)
    assert objects.list_page(None, 10).objects == []


class HeldPuts(ObjectStore):
    """The object store, with each PUT held after it is done until released:
    a delivery stopped between its PUT and its commit."""

    def __init__(self, store: ObjectStore) -> None:
        super().__init__(store.settings)
        self.put_done = threading.Event()
        self.release = threading.Event()

    async def aput(self, digest: bytes, data: bytes) -> None:
        await super().aput(digest, data)
        self.put_done.set()
        await asyncio.to_thread(self.release.wait, 30)


def test_an_object_put_by_a_delivery_not_yet_committed_survives_a_sweep(
    loop_thread: LoopThread,
    pool: AsyncConnectionPool[Conn],
    pg_settings: PgSettings,
    objects: ObjectStore,
) -> None:
    store = PgStore(pool, objects)
    loop_thread.run(store.create_account("alice"))
    _deliver_and_remove(loop_thread, store, GONE)
    _age_everything(loop_thread, pool, objects)  # an orphan the sweep would delete
    held = HeldPuts(objects)
    try:
        delivery = asyncio.run_coroutine_threadsafe(
            PgStore(pool, held).deliver("alice", "Inbox", GONE), loop_thread.loop
        )
        assert held.put_done.wait(30)
        # The PUT is done and the row not committed; the object looks old still
        # (as if the PUT rewrote it just after the sweep listed it).
        age_objects(objects.settings.bucket, 2 * GRACE)
        report = loop_thread.run(run_sweep(pool, objects, grace=GRACE))
        assert report is not None and report.deleted == [] and report.recent == 1
        held.release.set()
        msg = delivery.result(30)
    finally:
        held.release.set()
        held.close()
    account = loop_thread.run(store.account("alice"))
    assert loop_thread.run(account.body(msg.msgid))[1] == GONE
    with sync_connect(pg_settings) as conn:
        assert verify_pg(conn, "pg", objects=objects).problems == []


class HeldDeletes(ObjectStore):
    """The object store, with the sweep's DELETE held before it is sent."""

    def __init__(self, store: ObjectStore) -> None:
        super().__init__(store.settings)
        self.deleting = threading.Event()
        self.release = threading.Event()

    def delete_many(self, digests: list[bytes]) -> None:
        self.deleting.set()
        self.release.wait(30)
        super().delete_many(digests)


def test_a_delivery_recording_its_put_during_the_sweeps_delete_puts_the_object_again(
    loop_thread: LoopThread,
    pool: AsyncConnectionPool[Conn],
    pg_settings: PgSettings,
    objects: ObjectStore,
) -> None:
    store = PgStore(pool, objects)
    loop_thread.run(store.create_account("alice"))
    _deliver_and_remove(loop_thread, store, GONE)
    _age_everything(loop_thread, pool, objects)
    held = HeldDeletes(objects)
    try:
        sweep = asyncio.run_coroutine_threadsafe(
            run_sweep(pool, held, grace=GRACE), loop_thread.loop
        )
        assert held.deleting.wait(30)  # decided: the object goes
        delivery = asyncio.run_coroutine_threadsafe(
            store.deliver("alice", "Inbox", GONE), loop_thread.loop
        )
        # The delivery waits for the sweep to end before it PUTs.
        with pytest.raises(TimeoutError):
            delivery.result(1.0)
        held.release.set()
        report = sweep.result(30)
        assert report is not None and report.deleted == [sha(GONE)]
        msg = delivery.result(30)
    finally:
        held.release.set()
        held.close()
    assert objects.size(sha(GONE)) == len(GONE)
    account = loop_thread.run(store.account("alice"))
    assert loop_thread.run(account.body(msg.msgid))[1] == GONE
    with sync_connect(pg_settings) as conn:
        assert verify_pg(conn, "pg", objects=objects).problems == []


def test_one_node_sweeps_at_a_time(
    loop_thread: LoopThread,
    pool: AsyncConnectionPool[Conn],
    pg_settings: PgSettings,
    objects: ObjectStore,
) -> None:
    with sync_connect(pg_settings) as other:
        other.execute("SELECT pg_advisory_lock(%s)", (OBJECT_SWEEP_LOCK,))
        assert loop_thread.run(run_sweep(pool, objects, grace=GRACE)) is None
        other.execute("SELECT pg_advisory_unlock(%s)", (OBJECT_SWEEP_LOCK,))
    assert loop_thread.run(run_sweep(pool, objects, grace=GRACE)) is not None


def test_sweep_objects_command(
    tmp_path: Path,
    loop_thread: LoopThread,
    pool: AsyncConnectionPool[Conn],
    pg_cluster: Cluster,
    pg_database: str,
    objects: ObjectStore,
    s3: S3Server,
) -> None:
    d = object_store_config(
        tmp_path / "conf", pg_cluster, pg_database, s3, objects, object_store="sweep_grace = 600\n"
    )
    store = PgStore(pool, objects)
    loop_thread.run(store.create_account("alice"))
    loop_thread.run(store.deliver("alice", "Inbox", KEPT))
    _deliver_and_remove(loop_thread, store, GONE)
    _age_everything(loop_thread, pool, objects)
    result = CliRunner().invoke(cli, ["sweep-objects", "--config", str(d), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert f"would delete bodies/{sha(GONE).hex()}" in result.output
    assert sha(KEPT).hex() not in result.output
    assert "2 objects listed, 1 to delete (dry run), 1 named by a body" in result.output
    assert objects.size(sha(GONE)) == len(GONE)
    result = CliRunner().invoke(cli, ["sweep-objects", "--config", str(d)])
    assert result.exit_code == 0, result.output
    assert f"deleted bodies/{sha(GONE).hex()}" in result.output
    assert "2 objects listed, 1 deleted, 1 named by a body" in result.output
    assert objects.size(sha(GONE)) is None and objects.size(sha(KEPT)) == len(KEPT)
    assert SECRET not in result.output
    # Without an object store: the body rows only, and one line saying so.
    bare = _config(tmp_path / "bare", pg_cluster, pg_database, "")
    result = CliRunner().invoke(cli, ["sweep-objects", "--config", str(bare)])
    assert result.exit_code == 0 and "Traceback" not in result.output
    assert "no [storage.object_store] endpoint: no objects" in result.output
