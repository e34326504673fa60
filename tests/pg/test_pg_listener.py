"""The node's LISTEN connection: watches per account, reconnection."""

from __future__ import annotations

import asyncio
import time

from pghelpers import open_migrated

from pgcluster import Cluster
from postel.pg.accountstore import PgStore
from postel.pg.listener import ChangeListener
from postel.pg.settings import PgSettings


async def test_watch_wakes_for_its_account_only(pg_settings: PgSettings) -> None:
    pool = await open_migrated(pg_settings)
    listener = ChangeListener(pg_settings, fallback=60.0)
    try:
        store = PgStore(pool)
        await store.create_account("alice")
        await store.create_account("bob")
        await listener.start()
        alice, bob = listener.watch("alice"), listener.watch("bob")
        await store.deliver("bob", "Inbox", b"Subject: x\r\n\r\nx\r\n")
        await asyncio.wait_for(bob.wait(60), 2)
        started = time.monotonic()
        await alice.wait(0.3)  # not woken: returns at its timeout
        assert time.monotonic() - started >= 0.29
        # Committed while nobody waited: kept for the next wait.
        await store.deliver("alice", "Inbox", b"Subject: y\r\n\r\ny\r\n")
        await asyncio.sleep(0.3)
        await asyncio.wait_for(alice.wait(60), 0.1)
        alice.close()
        bob.close()
        assert listener._watches == {}
    finally:
        await listener.stop()
        await pool.close()


async def test_listener_reconnects_and_wakes_every_watch(
    pg_settings: PgSettings, pg_cluster: Cluster
) -> None:
    pool = await open_migrated(pg_settings)
    listener = ChangeListener(pg_settings, fallback=60.0)
    try:
        store = PgStore(pool)
        await store.create_account("alice")
        await listener.start()
        watch = listener.watch("alice")
        with pg_cluster.admin() as conn:  # the database drops the listener's connection
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%'"
            )
        # Woken once the listener is back (notifications may have been lost).
        await asyncio.wait_for(watch.wait(60), 10)
        assert listener.listening
        await store.deliver("alice", "Inbox", b"Subject: x\r\n\r\nx\r\n")
        await asyncio.wait_for(watch.wait(60), 2)
    finally:
        await listener.stop()
        await pool.close()
