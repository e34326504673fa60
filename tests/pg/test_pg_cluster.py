"""The test cluster itself: loopback only, password required, one database per test."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from pgcluster import Cluster, _owner, reap_orphans


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


def test_a_cluster_left_by_a_killed_run_is_stopped_by_the_next(pg_cluster: Cluster) -> None:
    tests = Path(__file__).resolve().parents[1]
    code = (
        f"import sys, time; sys.path.insert(0, {str(tests)!r})\n"
        "from pgcluster import running_cluster\n"
        "with running_cluster() as c:\n"
        "    print(c.root, flush=True)\n"
        "    time.sleep(120)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        root = Path(proc.stdout.readline().strip())
        assert root.name.startswith("postel-pg-")
        postmaster = int((root / "data" / "postmaster.pid").read_text().split()[0])
    finally:
        proc.kill()  # as a CI job killed mid-run: no finalizer
        proc.wait(10)
    reap_orphans(_owner())
    assert not root.exists()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(postmaster, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"postmaster {postmaster} of {root} still runs")
    # The session's own cluster (its owner is alive) was left alone.
    with psycopg.connect(pg_cluster.dsn("postgres")) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
