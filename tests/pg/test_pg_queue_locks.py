"""Row locks of the PostgreSQL queue: a node's concurrent jobs (one per
recipient domain, all of one claim) start attempts and record outcomes at
the same moment without deadlocking each other. A deadlock aborts one
transaction: its outcome is not recorded and the entries are delivered
again once the lease ends."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from pghelpers import LoopThread, wait_for_lock_waits
from queuehelpers import MESSAGE, T0, migrate_db, pg_node

from pgcluster import Cluster
from postel.pg.queue import PgQueueEntries
from postel.pg.settings import PgSettings
from postel.queue import Deferral, Entry


@pytest.fixture
def node(
    loop_thread: LoopThread, pg_settings: PgSettings, tmp_path: Path
) -> Iterator[PgQueueEntries]:
    migrate_db(loop_thread, pg_settings)
    n = pg_node(pg_settings, tmp_path, "a")
    yield n
    n.close()


def _in_thread(call: Callable[[], None], errors: list[BaseException]) -> threading.Thread:
    def run() -> None:
        try:
            call()
        except BaseException as exc:  # collected for the assertion
            errors.append(exc)

    t = threading.Thread(target=run)
    t.start()
    return t


def _claim_two_domains(node: PgQueueEntries) -> dict[str, list[Entry]]:
    """Two entries for each of x.test and y.test, claimed at once."""
    for rcpt in ("a@x.test", "b@x.test", "a@y.test", "b@y.test"):
        node.add("alice", "alice@example.org", [rcpt], MESSAGE)
    return node.claim_due(T0, max_domains=2)


def _together_while_held(
    dsn: str, held: int, first: Callable[[], None], second: Callable[[], None]
) -> None:
    """While another transaction holds the row of entry *held*: *first* in a
    thread until it waits, then *second* until it waits too; then the row is
    let go and both must finish without an error."""
    errors: list[BaseException] = []
    with psycopg.connect(dsn, autocommit=True) as admin, psycopg.connect(dsn) as blocker:
        blocker.execute("SELECT 1 FROM queue_entry WHERE id = %s FOR UPDATE", (held,))
        one = _in_thread(first, errors)
        wait_for_lock_waits(admin, 1, timeout=20)
        two = _in_thread(second, errors)
        wait_for_lock_waits(admin, 2, timeout=20)
        blocker.rollback()
        one.join(20)
        two.join(20)
    assert not errors, errors


def test_attempts_of_two_domains_of_one_claim_starting_together_do_not_deadlock(
    node: PgQueueEntries, pg_cluster: Cluster, pg_database: str
) -> None:
    """Domain x's job and domain y's job begin their attempts while another
    transaction holds a row of y: both wait, neither fails."""
    claimed = _claim_two_domains(node)
    (x1, _), (y1, y2) = claimed["x.test"], claimed["y.test"]
    dsn = pg_cluster.dsn(pg_database)
    _together_while_held(
        dsn, y1.id, lambda: node.begin_attempt([x1.id]), lambda: node.begin_attempt([y2.id])
    )
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT id, attempts FROM queue_entry ORDER BY id").fetchall()
    assert {int(str(i)): int(str(a)) for i, a in rows} == {
        x1.id: 1,
        y2.id: 1,
        claimed["x.test"][1].id: 0,
        y1.id: 0,
    }


def test_outcomes_and_attempts_of_one_claim_recorded_together_do_not_deadlock(
    node: PgQueueEntries, pg_cluster: Cluster, pg_database: str
) -> None:
    """Outcomes of y and x recorded together (a y entry first) while domain
    x's job begins its attempt and another transaction holds a row of y."""
    claimed = _claim_two_domains(node)
    (x1, x2), (y1, y2) = claimed["x.test"], claimed["y.test"]
    dsn = pg_cluster.dsn(pg_database)
    later = T0 + dt.timedelta(hours=1)
    deferred = [Deferral(e.id, later, "451 try later") for e in (y2, x2)]
    _together_while_held(
        dsn, y1.id, lambda: node.begin_attempt([x1.id]), lambda: node.finish([], deferred)
    )
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT id, next_attempt FROM queue_entry").fetchall()
    assert {int(str(i)) for i, t in rows if t == later} == {x2.id, y2.id}
