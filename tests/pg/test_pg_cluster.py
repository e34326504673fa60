"""The test cluster itself: loopback only, password required, one database per test."""

from __future__ import annotations

import psycopg
import pytest

from pgcluster import Cluster


def test_database_per_test_is_empty_and_writable(pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        ).fetchone()
        assert tables == (0,)
        conn.execute("CREATE TABLE t (x int)")


def test_listens_on_loopback_only(pg_cluster: Cluster, pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn) as conn:
        row = conn.execute("SHOW listen_addresses").fetchone()
    assert row == ("127.0.0.1",)


def test_password_is_required(pg_cluster: Cluster, pg_database: str) -> None:
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(pg_cluster.dsn(pg_database, with_password=False) + " password=wrong")
