"""Fixtures of the dmarcsend tests (helpers are in dmarcsend_data.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from dmarcsend_data import DOMAINS, STATIC

from pgcluster import Cluster, pg_cluster, pg_database
from postel.dmarcevaldb import EvalDB
from postel.dmarcevaldb.api import Evaluations
from reportbackends import BACKENDS, migrated, pg_node

__all__ = ["pg_cluster", "pg_database"]


@pytest.fixture(params=BACKENDS)
def evaldb(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Evaluations]:
    """The DMARC evaluations and their suppression list: dmarceval.db, and
    shared in PostgreSQL (tests/reportbackends.py)."""
    if request.param == "sqlite":
        with EvalDB.open(tmp_path / "dmarceval.db") as db:
            yield db
        return
    cluster: Cluster = request.getfixturevalue("pg_cluster")
    node = pg_node(migrated(cluster, request.getfixturevalue("pg_database")), "a")
    yield node.evaluations
    node.close()


@pytest.fixture()
def config_dir(tmp_path: Path) -> Path:
    key = ed25519.Ed25519PrivateKey.generate()
    (tmp_path / "dkim-s1.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (tmp_path / "postel.toml").write_text(STATIC)
    (tmp_path / "domains.toml").write_text(DOMAINS)
    return tmp_path
