"""The bound of a node's local body copies (postel.pg.bodycache) and the node's
periodic storage jobs (postel.pg.housekeeping), on the test cluster: copies of
removed bodies go, the least recently used go until the rest fit, a read marks
a copy used, and a body whose copy went is read again."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from pathlib import Path

import pytest
from pghelpers import LoopThread
from psycopg_pool import AsyncConnectionPool
from s3server import age_objects, s3_server

from postel.config.model import StorageConfig
from postel.pg.accountstore import PgStore
from postel.pg.bodycache import copy_path, list_copies, trim_body_cache
from postel.pg.housekeeping import Housekeeping
from postel.pg.nodeparts import PgAccounts
from postel.pg.pool import Conn
from postel.pg.syncstore import PgMailStore

pytestmark = pytest.mark.timeout(120)

SIZE = 10_000


def _message(i: int) -> bytes:
    head = b"From: bob@example.org\r\nSubject: %d\r\n\r\n" % i
    return head + b"x" * (SIZE - len(head) - 2) + b"\r\n"


def _read_all(store: PgMailStore, count: int) -> dict[int, bytes]:
    """Open each message of Inbox (UIDs 1..count), as IMAP does; its content by UID."""
    out = {}
    for uid in range(1, count + 1):
        with store.open_message(store.get_by_uid("Inbox", uid).msgid) as fp:
            out[uid] = fp.read()
    return out


def _age(path: Path, seconds_ago: float) -> None:
    when = time.time() - seconds_ago
    os.utime(path, (when, when))


def _setup(
    tmp_path: Path, lt: LoopThread, pool: AsyncConnectionPool[Conn], count: int
) -> tuple[PgAccounts, PgMailStore, Path]:
    cache = tmp_path / "pg-bodies"
    accounts = PgAccounts(PgStore(pool), lt.loop, cache)
    for i in range(count):
        done, error = lt.run(accounts.deliver_bytes([("alice", "Inbox")], _message(i)))
        assert error is None and len(done) == 1
    store = accounts.mailstore("alice")
    assert _read_all(store, count) == {i + 1: _message(i) for i in range(count)}
    for i in range(count):  # message 0 used longest ago
        _age(copy_path(cache, hashlib.sha256(_message(i)).digest()), 10_000 - i * 1000)
    return accounts, store, cache


def _cached(cache: Path) -> set[bytes]:
    return {c.digest for c in list_copies(cache)}


def _digest(i: int) -> bytes:
    return hashlib.sha256(_message(i)).digest()


def test_copies_are_bounded_least_recently_used_first_and_read_again(
    tmp_path: Path, loop_thread: LoopThread, pool: AsyncConnectionPool[Conn]
) -> None:
    _accounts, store, cache = _setup(tmp_path, loop_thread, pool, 5)
    assert len(_cached(cache)) == 5
    # Reading message 0 again marks its copy used: it is kept, 1 to 3 go.
    _read_all_one(store, 1)
    trim = loop_thread.run(trim_body_cache(pool, cache, int(2.5 * SIZE)))
    assert trim.copies == 5 and trim.evicted == 3 and trim.gone == 0
    assert trim.bytes_after <= 2.5 * SIZE
    assert _cached(cache) == {_digest(0), _digest(4)}
    assert sum(p.stat().st_size for p in cache.rglob("*") if p.is_file()) <= 2.5 * SIZE
    # An evicted body still reads (fetched again, its copy written again).
    assert _read_all(store, 5) == {i + 1: _message(i) for i in range(5)}
    assert len(_cached(cache)) == 5


def _read_all_one(store: PgMailStore, uid: int) -> None:
    with store.open_message(store.get_by_uid("Inbox", uid).msgid) as fp:
        assert fp.read()


def test_copies_of_removed_bodies_go(
    tmp_path: Path, loop_thread: LoopThread, pool: AsyncConnectionPool[Conn]
) -> None:
    _accounts, store, cache = _setup(tmp_path, loop_thread, pool, 3)
    store.remove(store.get_by_uid("Inbox", 2).msgid)
    # A temporary file a crash left long ago goes too; a fresh one stays.
    stale = cache / "00" / ".tmp-stale"
    stale.parent.mkdir(exist_ok=True)
    stale.write_bytes(b"cut")
    _age(stale, 7200)
    fresh = cache / "00" / ".tmp-fresh"
    fresh.write_bytes(b"being written")
    trim = loop_thread.run(trim_body_cache(pool, cache, 100 * SIZE))
    assert trim.gone == 1 and trim.evicted == 0
    assert _cached(cache) == {_digest(0), _digest(2)}
    assert not stale.exists() and fresh.exists()


def test_the_node_trims_its_copies_and_sweeps_periodically(
    tmp_path: Path, loop_thread: LoopThread, pool: AsyncConnectionPool[Conn]
) -> None:
    _accounts, _store, cache = _setup(tmp_path, loop_thread, pool, 3)
    with s3_server() as s3:
        objects = s3.new_bucket()
        try:
            orphan = b"From: bob@example.org\r\n\r\nno row names me\r\n"
            objects.put(hashlib.sha256(orphan).digest(), orphan)
            age_objects(objects.settings.bucket, 7200)
            jobs = Housekeeping(
                pool,
                cache,
                SIZE,
                objects,
                sweep_every=0.2,
                grace=600,
                cache_every=0.2,
            )

            async def run_a_while() -> None:
                task = asyncio.create_task(jobs.run())
                await asyncio.sleep(1.5)
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

            loop_thread.run(run_a_while())
            assert _cached(cache) == {_digest(2)}
            assert objects.size(hashlib.sha256(orphan).digest()) is None
        finally:
            objects.close()


def test_body_cache_size_option() -> None:
    assert StorageConfig().body_cache_size == 1024  # megabytes
    assert StorageConfig(body_cache_size=5).body_cache_size == 5
    with pytest.raises(ValueError, match="greater than or equal"):
        StorageConfig(body_cache_size=-1)
