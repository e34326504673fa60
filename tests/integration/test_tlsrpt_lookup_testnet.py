"""`postel tlsrpt lookup` through the real validating resolver of the test network."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from postel.dns.resolver import DNSResolver
from postel.tlsrpt.lookup import lookup_record

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

RECORD = "v=TLSRPTv1; rua=mailto:tls@rpt.example,https://rpt.example/v1"


def lookup(testnet: Any, domain: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "postel",
            "tlsrpt",
            "lookup",
            domain,
            "--nameserver",
            testnet.resolver_ip,
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.fixture(scope="module")
def zones(testnet: Any) -> None:
    for name, mode in (
        ("rptsigned.test", "signed"),
        ("rptunsigned.test", "unsigned"),
        ("rptbogus.test", "bogus"),
    ):
        testnet.set_zone(
            name, [f'_smtp._tls TXT "{RECORD}"', '_smtp._tls TXT "unrelated"'], dnssec=mode
        )
    testnet.set_zone("rptnone.test", ["@ A 127.0.0.1"], dnssec="signed")


@pytest.mark.usefixtures("zones")
def test_signed_record(testnet: Any) -> None:
    result = lookup(testnet, "rptsigned.test")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["rua"] == ["mailto:tls@rpt.example", "https://rpt.example/v1"]
    assert out["dnssec"] is True
    assert out["name"].rstrip(".") == "_smtp._tls.rptsigned.test"


@pytest.mark.usefixtures("zones")
def test_unsigned_record_is_not_authentic(testnet: Any) -> None:
    result = lookup(testnet, "rptunsigned.test")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["dnssec"] is False


@pytest.mark.usefixtures("zones")
def test_missing_and_bogus(testnet: Any) -> None:
    missing = lookup(testnet, "rptnone.test")
    assert missing.returncode == 1
    assert "no TLSRPT record" in missing.stderr
    bogus = lookup(testnet, "rptbogus.test")
    assert bogus.returncode == 1
    assert "DNS lookup failed" in bogus.stderr


@pytest.mark.usefixtures("zones", "every_log_level")
async def test_lookup_in_process(testnet: Any) -> None:
    """The lookup itself (the CLI runs it in a subprocess, where these tests
    do not see its logging): a missing record logs at debug, which once
    raised KeyError for a reserved extra key."""
    resolver = DNSResolver([testnet.resolver_ip], timeout=10.0)
    missing = await lookup_record(resolver, "rptnone.test")
    assert missing.record is None and missing.name.rstrip(".") == "_smtp._tls.rptnone.test"
    found = await lookup_record(resolver, "rptsigned.test")
    assert found.record is not None and found.authentic
    assert [str(u) for u in found.record.rua] == [
        "mailto:tls@rpt.example",
        "https://rpt.example/v1",
    ]
