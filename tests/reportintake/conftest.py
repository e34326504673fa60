"""The received reports' stores, and the intake's target, on each backend
(tests/receivedbackends.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pgcluster import Cluster, pg_cluster, pg_database
from postel import dmarcdb, tlsrptdb
from postel.dmarcdb.api import ReceivedDMARCReports
from postel.pg.receivedparts import PgReceived
from postel.receivedreports import ReceivedReports
from postel.tlsrptdb.api import ReceivedTLSReports
from receivedbackends import BACKENDS, Backend, migrated, pg_node, pg_target

__all__ = ["pg_cluster", "pg_database"]


def _pg(request: pytest.FixtureRequest) -> PgReceived:
    cluster: Cluster = request.getfixturevalue("pg_cluster")
    return pg_node(migrated(cluster, request.getfixturevalue("pg_database")))


@pytest.fixture(params=BACKENDS)
def tlsdb(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ReceivedTLSReports]:
    """Received TLS reports: tlsrpt.db, or shared in PostgreSQL."""
    if request.param == "sqlite":
        with tlsrptdb.open(tmp_path / "tlsrpt.db") as d:
            yield d
        return
    node = _pg(request)
    yield node.tls
    node.close()


@pytest.fixture(params=BACKENDS)
def dmarcrptdb(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ReceivedDMARCReports]:
    """Received DMARC reports: dmarcrpt.db, or shared in PostgreSQL."""
    if request.param == "sqlite":
        with dmarcdb.open(tmp_path / "dmarcrpt.db") as d:
            yield d
        return
    node = _pg(request)
    yield node.dmarc
    node.close()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    if request.param == "sqlite":
        yield Backend(None, None)
        return
    cluster: Cluster = request.getfixturevalue("pg_cluster")
    dbname = request.getfixturevalue("pg_database")
    node = pg_node(migrated(cluster, dbname))
    yield Backend(pg_target(cluster, dbname), ReceivedReports(node.tls, node.dmarc))
    node.close()
