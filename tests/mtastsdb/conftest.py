"""The MTA-STS policy cache on each backend (tests/receivedbackends.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pgcluster import Cluster, pg_cluster, pg_database
from postel.mtastsdb import MTASTSDB, PolicyCache
from receivedbackends import BACKENDS, migrated, pg_mtasts, pg_node

__all__ = ["pg_cluster", "pg_database"]


@pytest.fixture(params=BACKENDS)
def cache(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PolicyCache]:
    """mtasts.db, or the cache the nodes share in PostgreSQL."""
    if request.param == "sqlite":
        d = MTASTSDB.open(tmp_path / "mtasts.db")
        yield d
        d.close()
        return
    cluster: Cluster = request.getfixturevalue("pg_cluster")
    node = pg_node(migrated(cluster, request.getfixturevalue("pg_database")))
    yield pg_mtasts(node, "a")
    node.close()
