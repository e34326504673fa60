"""Integration fixtures: the loopback test network (see testnet/README.md)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import testnet as testnet_pkg

from postel import log


@pytest.fixture(scope="session")
def testnet() -> Iterator[testnet_pkg.TestNet]:
    """knot + unbound + HTTPS on a loopback /24 of this pytest process, started once
    per session and stopped at its end. Missing programs are an error, not a skip."""
    net = testnet_pkg.TestNet()
    problem = ""
    try:
        net.start()
    except testnet_pkg.TestNetError as e:
        problem = str(e)
    if problem:
        pytest.fail(problem, pytrace=False)
    try:
        yield net
    finally:
        net.stop()


# --- Postfix as a real SMTP peer (postfixpeer/README.md; owned by the report-intake helper) ---

import postfixpeer  # noqa: E402


@pytest.fixture(scope="session")
def postfix_peer(testnet: testnet_pkg.TestNet) -> Iterator[postfixpeer.PostfixPeer]:
    """A private Postfix on its own loopback address of the test network, smtpd on port 25.
    Call ``configure(relay_to=(ip, port), tls=...)`` first; stopped at session end."""
    peer = postfixpeer.PostfixPeer(testnet.ip(), ca_file=Path(testnet.ca_file))
    try:
        yield peer
    finally:
        peer.cleanup()


# --- every postel logger at the most verbose level, once per test ---


@pytest.fixture(params=["default", "tracedata"])
def every_log_level(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[None]:
    """Run a test as it is, then again with every postel logger at tracedata
    through postel's own handler and formatter (into a file), so that a logging
    call that fails at a verbose level fails a test (tests/conftest.py counts
    the failures postel.logsafety absorbs). Used by the delivery, receiving and
    report modules as ``pytest.mark.usefixtures("every_log_level")``."""
    if request.param == "default":
        yield
        return
    path = tmp_path / "postel-tracedata.log"
    with path.open("a", encoding="utf-8") as stream:
        log.configure("tracedata", stream=stream)
        logging.getLogger("postel").propagate = True  # tests' caplog still sees records
        for name, logger in list(logging.Logger.manager.loggerDict.items()):
            if name.startswith("postel.") and isinstance(logger, logging.Logger):
                logger.setLevel(logging.NOTSET)  # tests/conftest.py restores the levels
        yield
        # still in force at the end (a test that called configure itself has
        # its own level); some tests log nothing in this process (subprocesses)
        assert logging.getLogger("postel").getEffectiveLevel() <= log.TRACEDATA


# --- the storage backend of a node: SQLite and PostgreSQL (storagebackend.py) ---

import storagebackend  # noqa: E402

from pgcluster import pg_cluster, pg_database  # noqa: E402,F401


@pytest.fixture(params=storagebackend.BACKENDS)
def storage_backend(request: pytest.FixtureRequest) -> storagebackend.Backend:
    """The backend a test's node stores its mail in: "sqlite" (the default) or
    "postgresql" (a fresh database in the session's throwaway cluster)."""
    if request.param == storagebackend.SQLITE:
        return storagebackend.Backend(storagebackend.SQLITE)
    cluster = request.getfixturevalue("pg_cluster")
    database = request.getfixturevalue("pg_database")
    return storagebackend.Backend(storagebackend.POSTGRESQL, cluster, database)
