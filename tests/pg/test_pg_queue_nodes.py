"""Several nodes on one PostgreSQL queue: claims that exclude each other,
leases that expire, late outcomes that change nothing, wake-ups across nodes."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from pghelpers import LoopThread
from queuehelpers import MESSAGE, T0, migrate_db, pg_node

from pgcluster import Cluster
from postel.pg.queue import PgQueueEntries
from postel.pg.settings import PgSettings
from postel.queue import Deferral, Entry


@pytest.fixture
def migrated(loop_thread: LoopThread, pg_settings: PgSettings) -> PgSettings:
    migrate_db(loop_thread, pg_settings)
    return pg_settings


@pytest.fixture
def nodes(migrated: PgSettings, tmp_path: Path) -> Iterator[list[PgQueueEntries]]:
    made: list[PgQueueEntries] = []
    yield made
    for n in made:
        n.close()


def _node(
    nodes: list[PgQueueEntries], settings: PgSettings, root: Path, name: str, **kw: float
) -> PgQueueEntries:
    n = pg_node(settings, root, name, **kw)
    nodes.append(n)
    return n


def _claimed_by(cluster: Cluster, dbname: str) -> dict[int, str | None]:
    with psycopg.connect(cluster.dsn(dbname)) as conn:
        rows = conn.execute("SELECT id, claimed_by FROM queue_entry").fetchall()
    return {int(r[0]): r[1] for r in rows}


def test_two_nodes_claiming_at_once_never_get_the_same_entry(
    nodes: list[PgQueueEntries],
    migrated: PgSettings,
    tmp_path: Path,
    pg_cluster: Cluster,
    pg_database: str,
) -> None:
    a = _node(nodes, migrated, tmp_path, "a")
    b = _node(nodes, migrated, tmp_path, "b")
    added: list[int] = []
    for i in range(60):
        added += a.add(
            "alice", "alice@example.org", [f"u{i}@d{i % 20}.test", f"v{i}@e{i % 7}.test"], MESSAGE
        )
    got: dict[str, list[int]] = {"a": [], "b": []}
    start = threading.Barrier(2)

    def claim(node: PgQueueEntries) -> None:
        start.wait()
        while claimed := node.claim_due(T0, max_domains=2):
            got[node.node] += [e.id for es in claimed.values() for e in es]

    threads = [threading.Thread(target=claim, args=(n,)) for n in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not set(got["a"]) & set(got["b"])
    assert sorted(got["a"] + got["b"]) == sorted(added)
    assert got["a"] and got["b"]  # both took part
    owners = _claimed_by(pg_cluster, pg_database)
    assert all(owners[i] == "a" for i in got["a"]) and all(owners[i] == "b" for i in got["b"])


def test_a_claim_skips_rows_another_transaction_has_locked(
    nodes: list[PgQueueEntries],
    migrated: PgSettings,
    tmp_path: Path,
    pg_cluster: Cluster,
    pg_database: str,
) -> None:
    """SKIP LOCKED: a node claiming while another node's claim is in progress
    takes the other rows at once instead of waiting."""
    a = _node(nodes, migrated, tmp_path, "a")
    (first,) = a.add("alice", "alice@example.org", ["a@x.test"], MESSAGE)
    (second,) = a.add("alice", "alice@example.org", ["b@y.test"], MESSAGE)
    result: list[dict[str, list[Entry]]] = []
    with psycopg.connect(pg_cluster.dsn(pg_database)) as other, other.transaction():
        other.execute("SELECT id FROM queue_entry WHERE id = %s FOR UPDATE", (first,))
        claiming = threading.Thread(target=lambda: result.append(a.claim_due(T0, max_domains=5)))
        claiming.start()
        claiming.join(2)
        waited = claiming.is_alive()
    claiming.join(30)  # the lock is gone: a waiting claim goes on
    assert not waited, "the claim waited for the locked row"
    assert {d: [e.id for e in es] for d, es in result[0].items()} == {"y.test": [second]}
    assert [e.id for e in a.claim_due(T0, max_domains=5)["x.test"]] == [first]


def test_an_expired_lease_frees_the_entries_and_the_late_outcome_changes_nothing(
    nodes: list[PgQueueEntries], migrated: PgSettings, tmp_path: Path
) -> None:
    a = _node(nodes, migrated, tmp_path, "a", lease=1.0)
    b = _node(nodes, migrated, tmp_path, "b", lease=600.0)
    ids = a.add("alice", "alice@example.org", ["a@x.test", "b@x.test"], MESSAGE)
    assert [e.id for e in a.claim_due(T0, max_domains=5)["x.test"]] == ids
    a.begin_attempt(ids)
    assert b.claim_due(T0, max_domains=5) == {}  # a holds the lease
    lease_end = b.next_due()
    assert lease_end is not None and lease_end > dt.datetime.now(dt.UTC)
    time.sleep(1.3)  # a "stops" past its lease
    taken = b.claim_due(T0, max_domains=5)
    assert [e.id for e in taken["x.test"]] == ids
    assert [e.attempts for e in taken["x.test"]] == [1, 1]
    # a comes back and reports its attempt: neither a delivery nor a deferral is kept.
    a.finish([ids[0]], [Deferral(ids[1], T0 + dt.timedelta(hours=1), error="a: try later")])
    a.begin_attempt(ids)
    a.unclaim(ids)
    assert [(e.id, e.last_error, e.attempts) for e in b.entries()] == [
        (ids[0], "", 1),
        (ids[1], "", 1),
    ]
    assert a.claim_due(T0, max_domains=5) == {}  # still b's
    later = T0 + dt.timedelta(minutes=5)
    b.begin_attempt(ids)
    b.finish([ids[1]], [Deferral(ids[0], later, error="b: try later", code=451)])
    (left,) = a.entries()
    assert (left.id, left.last_error, left.next_attempt, left.attempts) == (
        ids[0],
        "b: try later",
        later,
        2,
    )
    assert a.next_due() == later  # b's claim ended with its outcome


def test_each_attempt_renews_the_lease_of_its_claim(
    nodes: list[PgQueueEntries], migrated: PgSettings, tmp_path: Path
) -> None:
    """The entries of a domain wait in the claiming node's job while earlier
    messages are delivered: each attempt's start keeps the whole claim."""
    a = _node(nodes, migrated, tmp_path, "a", lease=3.0)
    b = _node(nodes, migrated, tmp_path, "b")
    (first,) = a.add("alice", "alice@example.org", ["a@x.test"], MESSAGE)
    (second,) = a.add("alice", "alice@example.org", ["b@x.test"], MESSAGE)
    assert len(a.claim_due(T0, max_domains=5)["x.test"]) == 2
    time.sleep(2.0)
    a.begin_attempt([first])
    time.sleep(2.0)  # past the first lease, within the renewed one
    assert b.claim_due(T0, max_domains=5) == {}
    a.finish([first, second], [])
    assert a.entries() == []


def test_an_add_on_one_node_wakes_the_other_within_a_second(
    nodes: list[PgQueueEntries], migrated: PgSettings, tmp_path: Path
) -> None:
    a = _node(nodes, migrated, tmp_path, "a")
    b = _node(nodes, migrated, tmp_path, "b")
    woken = threading.Event()
    calls: list[str] = []

    def on_b() -> None:
        calls.append("b")
        woken.set()

    b.on_added(on_b)
    assert b._wake.listening.wait(10)
    assert not woken.is_set()  # nothing added yet
    began = time.monotonic()
    a.add("alice", "alice@example.org", ["a@x.test"], MESSAGE)
    assert woken.wait(1.0), "node b was not woken within a second"
    assert time.monotonic() - began < 1.0
    # b's own add wakes it once (directly), not again through the database.
    woken.clear()
    calls.clear()
    b.add("alice", "alice@example.org", ["b@x.test"], MESSAGE)
    time.sleep(0.7)
    assert calls == ["b"]
    # A retry on another node (the CLI there) wakes it too.
    woken.clear()
    a.retry(None)
    assert woken.wait(1.0)


def test_a_dropped_entry_ignores_its_claimers_outcome(
    nodes: list[PgQueueEntries], migrated: PgSettings, tmp_path: Path
) -> None:
    a = _node(nodes, migrated, tmp_path, "a")
    admin = _node(nodes, migrated, tmp_path, "cli")
    (i,) = a.add("alice", "alice@example.org", ["a@x.test"], MESSAGE)
    a.claim_due(T0, max_domains=5)
    admin.drop(i)
    a.finish([], [Deferral(i, T0, error="later")])
    assert a.entries() == [] and a.counts() == (0, 0)
    admin.recover()


def test_two_nodes_finishing_a_messages_last_entries_at_once_remove_it(
    nodes: list[PgQueueEntries],
    migrated: PgSettings,
    tmp_path: Path,
    pg_cluster: Cluster,
    pg_database: str,
) -> None:
    a = _node(nodes, migrated, tmp_path, "a")
    b = _node(nodes, migrated, tmp_path, "b")
    for _ in range(15):
        x, y = a.add("alice", "alice@example.org", ["a@x.test", "b@y.test"], MESSAGE)
        assert [e.id for e in a.claim_due(T0, max_domains=1, busy={"y.test"})["x.test"]] == [x]
        assert [e.id for e in b.claim_due(T0, max_domains=1)["y.test"]] == [y]
        start = threading.Barrier(2)

        def finish(node: PgQueueEntries, entry: int, start: threading.Barrier) -> None:
            start.wait()
            node.finish([entry], [])

        threads = [threading.Thread(target=finish, args=(n, i, start)) for n, i in ((a, x), (b, y))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    with psycopg.connect(pg_cluster.dsn(pg_database)) as conn:
        row = conn.execute("SELECT count(*) FROM queue_message").fetchone()
    assert row == (0,)


def test_the_wake_up_listener_comes_back_after_its_connection_is_killed(
    nodes: list[PgQueueEntries],
    migrated: PgSettings,
    tmp_path: Path,
    pg_cluster: Cluster,
) -> None:
    a = _node(nodes, migrated, tmp_path, "a")
    b = _node(nodes, migrated, tmp_path, "b")
    woken = threading.Event()
    b.on_added(woken.set)
    assert b._wake.listening.wait(10)
    with pg_cluster.admin() as admin:
        (killed,) = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE query = 'LISTEN postel_queue'"
        ).fetchone() or (0,)
    assert killed == 1
    # Back: it wakes the runner once (adds may have been missed), then hears adds again.
    assert woken.wait(10)
    deadline = time.monotonic() + 10
    while not b._wake.listening.is_set() and time.monotonic() < deadline:
        time.sleep(0.05)
    woken.clear()
    a.add("alice", "alice@example.org", ["a@x.test"], MESSAGE)
    assert woken.wait(1.0)
