"""The received reports and the MTA-STS cache on each backend, for tests that
run the same behaviour on SQLite (the data directory's files) and on
PostgreSQL (shared by the nodes; a fresh database of tests/pgcluster.py,
migrated as tests/reportbackends.py does)."""

from __future__ import annotations

from dataclasses import dataclass

from pgcluster import Cluster
from postel.pg.mtastscache import PgMTASTSCache
from postel.pg.receivedparts import PgReceived, open_received
from postel.pg.settings import PgSettings
from postel.pg.target import PgTarget
from postel.receivedreports import ReceivedReports
from reportbackends import BACKENDS, migrated

__all__ = ["BACKENDS", "Backend", "migrated", "pg_mtasts", "pg_node", "pg_target"]


def pg_node(s: PgSettings) -> PgReceived:
    """One node's view of the shared received reports (its own pool)."""
    return open_received(s)


def pg_mtasts(node: PgReceived, name: str) -> PgMTASTSCache:
    """That node's view of the shared MTA-STS cache, under the node name *name*."""
    return PgMTASTSCache(node.pool, name)


def pg_target(cluster: Cluster, dbname: str) -> PgTarget:
    """What the report intake's child gets: the DSN and the password file."""
    return PgTarget(cluster.dsn(dbname, with_password=False), str(cluster.password_file))


@dataclass(frozen=True)
class Backend:
    """Where the intake stores (*pg*: None for the data directory's files) and
    how a test reads the stored reports back (*received*: None for the files)."""

    pg: PgTarget | None
    received: ReceivedReports | None
