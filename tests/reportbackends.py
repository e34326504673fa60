"""The outgoing reports' data on each backend, for tests that run the same
behaviour on SQLite (the data directory's files) and on PostgreSQL (shared
by the nodes; a fresh database of tests/pgcluster.py, migrated)."""

from __future__ import annotations

import asyncio
import concurrent.futures

from pgcluster import Cluster
from postel.pg.migrate import migrate
from postel.pg.pool import connect
from postel.pg.reportparts import PgReports, open_reports
from postel.pg.settings import PgSettings

BACKENDS = ["sqlite", "postgresql"]


def settings(cluster: Cluster, dbname: str) -> PgSettings:
    return PgSettings(dsn=cluster.dsn(dbname, with_password=False), password=cluster.password)


async def _migrate(s: PgSettings) -> None:
    conn = await connect(s)
    try:
        await migrate(conn, where=s.where)
    finally:
        await conn.close()


def migrated(cluster: Cluster, dbname: str) -> PgSettings:
    """Settings of *dbname*, migrated to the current schema (in a thread of its
    own: the caller may be inside a running event loop)."""
    s = settings(cluster, dbname)
    with concurrent.futures.ThreadPoolExecutor(1) as ex:
        ex.submit(asyncio.run, _migrate(s)).result(60)
    return s


def pg_node(s: PgSettings, node: str) -> PgReports:
    """One node's view of the shared report data (its own pool)."""
    return open_reports(s, node)
