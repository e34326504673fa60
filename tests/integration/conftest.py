"""Integration fixtures: the loopback test network (see testnet/README.md)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import testnet as testnet_pkg


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
