"""`postel serve` on the PostgreSQL store migrates the schema as it starts,
as the SQLite databases migrate when opened: three nodes started at once on
an empty database bring it to this program's version, each step run by one
of them (the advisory lock of postel.pg.migrate); a node on a database whose
schema is newer than the program stops with one line."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pgnodes import running_nodes, start_node

from pgcluster import Cluster, pg_cluster, pg_database
from postel.pg.schema import MIGRATIONS

__all__ = ["pg_cluster", "pg_database"]

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

STEP = re.compile(r"\bversion=(\d+)")


def _version(dsn: str) -> int:
    with psycopg.connect(dsn, connect_timeout=10) as conn:
        row = conn.execute("SELECT version FROM schema_version").fetchone()
    assert row is not None
    return int(row[0])


def test_nodes_starting_on_an_empty_database_migrate_it_once(
    testnet: Any, tmp_path: Path, pg_cluster: Cluster, pg_database: str
) -> None:
    dsn = pg_cluster.dsn(pg_database)
    with psycopg.connect(dsn, connect_timeout=10) as conn:
        row = conn.execute("SELECT to_regclass('schema_version') IS NULL").fetchone()
    assert row == (True,)  # empty: no `config migrate-db` ran
    with running_nodes(testnet, tmp_path, pg_cluster, pg_database, migrate=False) as nodes:
        assert _version(dsn) == len(MIGRATIONS)
        steps: Counter[int] = Counter()
        for node in nodes.nodes:
            for line in node.log_text().splitlines():
                if "schema migrated" in line and (found := STEP.search(line)):
                    steps[int(found.group(1))] += 1
        # Every step logged once, by the node that ran it.
        assert steps == Counter(range(1, len(MIGRATIONS) + 1)), steps
        a = nodes.nodes[0]
    # A node on a schema newer than this program: one line, and it stops.
    with psycopg.connect(dsn, connect_timeout=10) as conn:
        conn.execute("UPDATE schema_version SET version = %s", (len(MIGRATIONS) + 5,))
    assert a.log is not None
    before = len(a.log_text())
    start_node(a)
    assert a.proc is not None
    assert a.proc.wait(60) != 0
    out = a.log_text()[before:]
    refused = [line for line in out.splitlines() if "is newer than this program" in line]
    assert len(refused) == 1, out
    assert f"schema version {len(MIGRATIONS) + 5}" in refused[0]
    assert "Traceback" not in out
