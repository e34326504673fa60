"""Message bodies of the PostgreSQL store in an S3-compatible object store
(postel.pg.objectstore), against a real S3 server on loopback (moto, server
mode) and the test cluster: delivery puts the object before the row (data
NULL), reads fetch it, removal deletes it, verifydata finds a missing one, and
a store that does not answer refuses the delivery (SMTP 4xx), storing nothing."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import pytest
from click.testing import CliRunner
from pghelpers import LoopThread
from psycopg_pool import AsyncConnectionPool
from s3server import SECRET, S3Server
from test_pg_config import DOMAINS, STATIC

from loopbackports import free_tcp_port
from pgcluster import Cluster
from postel.cli.main import cli
from postel.config import load_config
from postel.config.errors import ConfigError
from postel.config.model import StorageConfig
from postel.datadir import DataDir
from postel.pg.accountmail import PgAccountMail
from postel.pg.accountstore import PgStore
from postel.pg.copytosqlite import copy_to_sqlite
from postel.pg.errors import PgCopyError, PgObjectMissing, PgObjectStoreUnavailable
from postel.pg.nodeparts import PgAccounts
from postel.pg.objectstore import ObjectStore, ObjectStoreSettings
from postel.pg.pool import Conn
from postel.pg.settings import PgSettings
from postel.pg.syncconn import sync_connect
from postel.pg.verify import verify_pg
from postel.store.errors import StoreUnavailable
from postel.store.store import Store
from postel.wiring import pg_objects

pytestmark = pytest.mark.timeout(120)

MESSAGE = b"From: bob@example.org\r\nSubject: kept outside\r\n\r\nhello object store\r\n"
DIGEST = hashlib.sha256(MESSAGE).digest()


def _bodies(lt: LoopThread, pool: AsyncConnectionPool[Conn]) -> dict[bytes, bytes | None]:
    async def read() -> dict[bytes, bytes | None]:
        async with pool.connection() as conn:
            cur = await conn.execute("SELECT sha256, data FROM body")
            rows = await cur.fetchall()
        return {bytes(r[0]): None if r[1] is None else bytes(r[1]) for r in rows}

    return lt.run(read())


def _messages(lt: LoopThread, pool: AsyncConnectionPool[Conn]) -> int:
    async def count() -> int:
        async with pool.connection() as conn:
            cur = await conn.execute("SELECT count(*) FROM message")
            row = await cur.fetchone()
            assert row is not None
            return int(row[0])

    return lt.run(count())


def test_delivery_puts_the_object_and_reads_fetch_it(
    tmp_path: Path,
    loop_thread: LoopThread,
    pool: AsyncConnectionPool[Conn],
    objects: ObjectStore,
) -> None:
    accounts = PgAccounts(PgStore(pool, objects), loop_thread.loop, tmp_path / "bodies")
    # The account is made on the way (the slower path), then the one-statement one.
    for _ in range(2):
        done, error = loop_thread.run(accounts.deliver_bytes([("alice", "Inbox")], MESSAGE))
        assert error is None and len(done) == 1
    assert objects.size(DIGEST) == len(MESSAGE)
    assert objects.get(DIGEST) == MESSAGE
    assert _bodies(loop_thread, pool) == {DIGEST: None}  # the row without its content
    # IMAP's view (through the node's body cache) and the webmail's.
    store = accounts.mailstore("alice")
    for uid in (1, 2):
        with store.open_message(store.get_by_uid("Inbox", uid).msgid) as fp:
            assert fp.read() == MESSAGE
    mail = accounts.account("alice")
    assert isinstance(mail, PgAccountMail)
    assert mail.read_message(store.get_by_uid("Inbox", 2).msgid) == MESSAGE


def test_without_an_object_store_bodies_stay_in_postgresql(
    tmp_path: Path, loop_thread: LoopThread, pool: AsyncConnectionPool[Conn]
) -> None:
    accounts = PgAccounts(PgStore(pool), loop_thread.loop, tmp_path / "bodies")
    done, error = loop_thread.run(accounts.deliver_bytes([("alice", "Inbox")], MESSAGE))
    assert error is None and len(done) == 1
    assert _bodies(loop_thread, pool) == {DIGEST: MESSAGE}


def test_an_unreachable_object_store_refuses_the_delivery(
    tmp_path: Path,
    loop_thread: LoopThread,
    pool: AsyncConnectionPool[Conn],
    caplog: pytest.LogCaptureFixture,
) -> None:
    down = ObjectStore(
        ObjectStoreSettings(
            endpoint=f"http://127.0.0.1:{free_tcp_port()}",
            bucket="gone",
            access_key_id="testing-key",
            secret=SECRET,
            timeout=2.0,
        )
    )
    accounts = PgAccounts(PgStore(pool, down), loop_thread.loop, tmp_path / "bodies")
    with caplog.at_level(logging.DEBUG):
        for targets in ([("alice", "Inbox")], [("alice", "Inbox"), ("bob", "Inbox")]):
            done, error = loop_thread.run(accounts.deliver_bytes(targets, MESSAGE))
            # A StoreUnavailable: the SMTP session answers 4xx, never 250.
            assert done == [] and isinstance(error, PgObjectStoreUnavailable)
            assert isinstance(error, StoreUnavailable)
            assert "PUT of body" in str(error) and "\n" not in str(error)
        # The slower path (a new mailbox made on the way) refuses too.
        loop_thread.run(PgStore(pool, down).create_account("carol"))
        with pytest.raises(PgObjectStoreUnavailable):
            loop_thread.run(PgStore(pool, down).deliver("carol", "New", MESSAGE))
    assert _messages(loop_thread, pool) == 0 and _bodies(loop_thread, pool) == {}
    assert SECRET not in caplog.text and SECRET not in repr(down.settings)
    down.close()


def test_a_read_while_the_object_store_is_down_is_unavailable(
    tmp_path: Path,
    loop_thread: LoopThread,
    pool: AsyncConnectionPool[Conn],
    objects: ObjectStore,
) -> None:
    store = PgStore(pool, objects)
    loop_thread.run(store.create_account("alice"))
    msg = loop_thread.run(store.deliver("alice", "Inbox", MESSAGE))
    down = ObjectStore(
        ObjectStoreSettings(
            endpoint=f"http://127.0.0.1:{free_tcp_port()}",
            bucket=objects.settings.bucket,
            access_key_id="testing-key",
            secret=SECRET,
            timeout=2.0,
        )
    )
    account = loop_thread.run(PgStore(pool, down).account("alice"))
    with pytest.raises(PgObjectStoreUnavailable):
        loop_thread.run(account.body(msg.msgid))
    # An object gone from the store is an error of the store, not "unavailable".
    objects.delete(DIGEST)
    account = loop_thread.run(store.account("alice"))
    with pytest.raises(PgObjectMissing):
        loop_thread.run(account.body(msg.msgid))
    down.close()


def test_removal_drops_the_row_and_leaves_the_object(
    tmp_path: Path,
    loop_thread: LoopThread,
    pool: AsyncConnectionPool[Conn],
    objects: ObjectStore,
) -> None:
    store = PgStore(pool, objects)
    loop_thread.run(store.create_account("alice"))
    other = MESSAGE + b"another\r\n"
    other_digest = hashlib.sha256(other).digest()
    first = loop_thread.run(store.deliver("alice", "Inbox", MESSAGE))
    account = loop_thread.run(store.account("alice"))
    copy = loop_thread.run(account.copy(first.msgid, "Archive"))
    loop_thread.run(account.remove(first.msgid))
    assert DIGEST in _bodies(loop_thread, pool)  # the copy still names it
    loop_thread.run(account.remove(copy.msgid))
    assert _bodies(loop_thread, pool) == {}
    # The object stays (deleting it could race a delivery of the same content
    # that PUT it again: postel.pg.bodies.left_in_object_store), and a later
    # delivery of that content is stored and read as before.
    assert objects.size(DIGEST) == len(MESSAGE)
    again = loop_thread.run(store.deliver("alice", "Inbox", MESSAGE, flags=["\\Deleted"]))
    _digest, data = loop_thread.run(account.body(again.msgid))
    assert data == MESSAGE
    loop_thread.run(account.expunge("Inbox"))
    loop_thread.run(account.create_mailbox("Old"))
    loop_thread.run(store.deliver("alice", "Old", other))
    loop_thread.run(account.delete_mailbox("Old"))
    assert _bodies(loop_thread, pool) == {}
    assert objects.size(other_digest) == len(other)


def test_verifydata_reports_a_missing_or_short_object(
    loop_thread: LoopThread,
    pool: AsyncConnectionPool[Conn],
    pg_settings: PgSettings,
    objects: ObjectStore,
) -> None:
    store = PgStore(pool, objects)
    loop_thread.run(store.create_account("alice"))
    other = MESSAGE + b"another\r\n"
    other_digest = hashlib.sha256(other).digest()
    loop_thread.run(store.deliver("alice", "Inbox", MESSAGE))
    loop_thread.run(store.deliver("alice", "Inbox", other))
    with sync_connect(pg_settings) as conn:
        assert verify_pg(conn, "pg", objects=objects).problems == []
        objects.delete(DIGEST)
        objects.put(other_digest, b"short")  # overwritten with other content
        problems = verify_pg(conn, "pg", objects=objects).problems
        assert sorted(problems) == sorted(
            [
                f"body {DIGEST.hex()}: no object in the {objects.where}",
                f"body {other_digest.hex()}: object of 5 bytes, its row says {len(other)}",
            ]
        )
        # Without the object store's settings, such bodies cannot be checked.
        unchecked = verify_pg(conn, "pg").problems
        assert len(unchecked) == 2 and all("no object store" in p for p in unchecked)


OBJECT_STORE = """
[storage.object_store]
endpoint = "{endpoint}"
bucket = "{bucket}"
access_key_id = "testing-key"
secret_file = "s3secret"
key_prefix = "bodies/"
timeout = 5
"""


def _config(d: Path, pg_cluster: Cluster, dbname: str, extra: str) -> Path:
    d.mkdir(exist_ok=True)
    (d / "postel.toml").write_text(
        STATIC.format(dsn=pg_cluster.dsn(dbname, with_password=False)) + extra
    )
    (d / "domains.toml").write_text(DOMAINS)
    (d / "pgpassword").write_text(pg_cluster.password + "\n")
    return d


def object_store_config(
    d: Path,
    pg_cluster: Cluster,
    dbname: str,
    s3: S3Server,
    objects: ObjectStore,
    *,
    storage: str = "",
    object_store: str = "",
) -> Path:
    """A node's config on *dbname* with *objects* of *s3* as its object store
    (its secret file written): *storage*: lines of [storage] before it,
    *object_store*: more lines of [storage.object_store]."""
    d = _config(
        d,
        pg_cluster,
        dbname,
        storage
        + OBJECT_STORE.format(endpoint=s3.endpoint, bucket=objects.settings.bucket)
        + object_store,
    )
    (d / "s3secret").write_text(SECRET + "\n")
    return d


def test_verifydata_command_checks_the_configured_object_store(
    tmp_path: Path,
    loop_thread: LoopThread,
    pool: AsyncConnectionPool[Conn],
    pg_cluster: Cluster,
    pg_database: str,
    objects: ObjectStore,
    s3: S3Server,
) -> None:
    d = object_store_config(tmp_path / "conf", pg_cluster, pg_database, s3, objects)
    cfg = load_config(d)
    made = pg_objects(cfg.static.storage, cfg.dir)
    assert made is not None and made.settings.secret == SECRET
    made.close()
    store = PgStore(pool, objects)
    loop_thread.run(store.create_account("alice"))
    loop_thread.run(store.deliver("alice", "Inbox", MESSAGE))
    result = CliRunner().invoke(cli, ["verifydata", "--config", str(d)])
    assert result.exit_code == 0, result.output
    objects.delete(DIGEST)
    result = CliRunner().invoke(cli, ["verifydata", "--config", str(d)])
    assert result.exit_code == 1
    assert f"body {DIGEST.hex()}: no object in the {objects.where}" in result.output
    assert SECRET not in result.output
    # An unreadable secret file: one line saying what and where.
    (d / "s3secret").unlink()
    result = CliRunner().invoke(cli, ["verifydata", "--config", str(d)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "[storage.object_store] secret_file: cannot read" in result.output


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ('[storage.object_store]\nendpoint = "http://127.0.0.1:9"\n', "needs bucket"),
        ('[storage.object_store]\nendpoint = "ftp://x"\n', "not an http"),
        ('[storage.object_store]\nsecret = "inline"\n', "secret"),
    ],
)
def test_object_store_settings_are_checked(
    tmp_path: Path, pg_cluster: Cluster, pg_database: str, extra: str, problem: str
) -> None:
    d = _config(tmp_path / "conf", pg_cluster, pg_database, extra)
    with pytest.raises(ConfigError) as err:
        load_config(d)
    assert problem in str(err.value)


def test_an_object_store_needs_the_postgresql_backend() -> None:
    with pytest.raises(ValueError, match="needs backend"):
        StorageConfig.model_validate(
            {
                "object_store": {
                    "endpoint": "http://127.0.0.1:9",
                    "bucket": "b",
                    "access_key_id": "k",
                    "secret_file": "s",
                }
            }
        )
    assert StorageConfig().object_store.endpoint == ""  # bodies in PostgreSQL by default


def test_copy_to_sqlite_reads_bodies_from_the_object_store(
    tmp_path: Path,
    loop_thread: LoopThread,
    pool: AsyncConnectionPool[Conn],
    pg_settings: PgSettings,
    objects: ObjectStore,
) -> None:
    store = PgStore(pool, objects)
    loop_thread.run(store.create_account("alice"))
    loop_thread.run(store.deliver("alice", "Inbox", MESSAGE))
    # Without the object store the body cannot be copied: said in one line.
    with pytest.raises(PgCopyError, match="not in the database, cannot copy it"):
        copy_to_sqlite(pg_settings, tmp_path / "without", say=lambda _: None)
    report = copy_to_sqlite(pg_settings, tmp_path / "copy", say=lambda _: None, objects=objects)
    assert report.messages == 1
    copy = Store(DataDir(tmp_path / "copy"))
    try:
        account = copy.account("alice")
        msg = account.get_by_uid("Inbox", 1)
        with account.open_message(msg.msgid) as fp:
            assert fp.read() == MESSAGE
    finally:
        copy.close()
