"""The outgoing TLS results on each backend (tests/reportbackends.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pgcluster import Cluster, pg_cluster, pg_database
from postel.tlsrptresultdb import ResultDB
from postel.tlsrptresultdb.api import TLSResults
from reportbackends import BACKENDS, migrated, pg_node

__all__ = ["pg_cluster", "pg_database"]


@pytest.fixture(params=BACKENDS)
def resultdb(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TLSResults]:
    if request.param == "sqlite":
        db = ResultDB.open(tmp_path / "r.db")
        yield db
        db.close()
        return
    cluster: Cluster = request.getfixturevalue("pg_cluster")
    node = pg_node(migrated(cluster, request.getfixturevalue("pg_database")), "a")
    yield node.results
    node.close()
