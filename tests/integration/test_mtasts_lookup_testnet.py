"""MTA-STS discovery over the test network: DNS through unbound/knot, policies over real HTTPS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from postel.dns.resolver import DNSResolver
from postel.mtasts.errors import (
    RESULT_FETCH_ERROR,
    RESULT_WEBPKI_INVALID,
    NoPolicy,
    NoRecord,
    PolicyFetchError,
    TemporaryLookupError,
)
from postel.mtasts.fetch import WELL_KNOWN_PATH, make_ssl_context
from postel.mtasts.lookup import lookup
from postel.mtasts.policy import Mode
from postel.netpolicy import AddressPolicy

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(120),
    pytest.mark.usefixtures("every_log_level"),
]

# The test network is on loopback, which fetches refuse unless allowed.
LOOPBACK = AddressPolicy.from_networks(["127.0.0.0/8"])
POLICY = "version: STSv1\nmode: enforce\nmx: mx.{zone}\nmx: *.backup.{zone}\nmax_age: 86400\n"


def _publish(
    testnet: Any,
    zone: str,
    *,
    record: str | None = "v=STSv1; id=20240501",
    policy: str | None = None,
    dnssec: str = "signed",
    **serve: Any,
) -> str:
    records = [f"mta-sts A {testnet.https_ip}"]
    if record is not None:
        records.append(f'_mta-sts TXT "{record}"')
    testnet.set_zone(zone, records, dnssec=dnssec)
    if policy is not None:
        testnet.https_serve(f"mta-sts.{zone}", WELL_KNOWN_PATH, policy, **serve)
    return zone


async def _lookup(testnet: Any, zone: str) -> Any:
    resolver = DNSResolver([testnet.resolver_ip])
    ctx = make_ssl_context([testnet.ca_file])
    return await lookup(resolver, zone, ssl_context=ctx, timeout=20, addresses=LOOPBACK)


async def test_policy_fetched(testnet: Any) -> None:
    zone = _publish(testnet, "stsok.test", policy=POLICY.format(zone="stsok.test"))
    result = await _lookup(testnet, zone)
    assert result.error is None, result.error
    assert result.record.id == "20240501"
    assert result.policy.mode is Mode.ENFORCE
    assert result.policy.mx == ("mx.stsok.test", "*.backup.stsok.test")
    assert result.policy.matches("a.backup.stsok.test")
    assert result.url == "https://mta-sts.stsok.test/.well-known/mta-sts.txt"
    # The server picks its certificate by SNI (no SNI: a no-sni.invalid certificate),
    # so the verified fetch shows SNI was mta-sts.<zone>; Host header and path:
    seen = [r for r in testnet.https_requests if r.host == "mta-sts.stsok.test"]
    assert seen
    assert (seen[-1].method, seen[-1].path) == ("GET", WELL_KNOWN_PATH)


async def test_unsigned_zone_works_too(testnet: Any) -> None:
    # MTA-STS relies on PKIX, not DNSSEC (RFC 8461 §10.1).
    zone = "stsunsigned.test"
    _publish(testnet, zone, policy=POLICY.format(zone=zone), dnssec="unsigned")
    result = await _lookup(testnet, zone)
    assert result.error is None, result.error
    assert result.policy.mode is Mode.ENFORCE


@pytest.mark.parametrize("cert", ["wrong-name", "expired", "untrusted"])
async def test_bad_certificate_is_webpki_invalid(testnet: Any, cert: str) -> None:
    zone = f"sts{cert.replace('-', '')}.test"
    _publish(testnet, zone, policy=POLICY.format(zone=zone), cert=cert)
    result = await _lookup(testnet, zone)
    assert isinstance(result.error, PolicyFetchError)
    assert result.result_type == RESULT_WEBPKI_INVALID
    assert result.record.id == "20240501"


async def test_policy_not_served(testnet: Any) -> None:
    zone = _publish(testnet, "sts404.test")
    result = await _lookup(testnet, zone)
    assert isinstance(result.error, NoPolicy)
    assert result.result_type == RESULT_FETCH_ERROR


async def test_redirect_is_fetch_error(testnet: Any) -> None:
    zone = "stsredirect.test"
    _publish(testnet, zone, policy="", status=301)
    result = await _lookup(testnet, zone)
    assert isinstance(result.error, PolicyFetchError)
    assert "301" in str(result.error)
    assert result.result_type == RESULT_FETCH_ERROR


async def test_no_record(testnet: Any) -> None:
    zone = _publish(testnet, "stsnorecord.test", record=None)
    result = await _lookup(testnet, zone)
    assert isinstance(result.error, NoRecord)
    assert result.result_type is None


async def test_bogus_zone_is_temporary(testnet: Any) -> None:
    zone = "stsbogus.test"
    _publish(testnet, zone, policy=POLICY.format(zone=zone), dnssec="bogus")
    result = await _lookup(testnet, zone)
    assert isinstance(result.error, TemporaryLookupError)
    assert result.result_type == RESULT_FETCH_ERROR


def test_cli_lookup(testnet: Any) -> None:
    zone = "stscli.test"
    _publish(testnet, zone, policy=POLICY.format(zone=zone))
    postel = Path(sys.executable).with_name("postel")
    env = dict(os.environ)
    proc = subprocess.run(
        [
            str(postel),
            "mtasts",
            "lookup",
            zone,
            "--nameserver",
            testnet.resolver_ip,
            "--ca-file",
            str(testnet.ca_file),
            "--timeout",
            "20",
            "--allow-internal",
            "127.0.0.0/8",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["record"]["id"] == "20240501"
    assert out["policy"]["mode"] == "enforce"
    assert out["policy"]["mx"] == [f"mx.{zone}", f"*.backup.{zone}"]
    assert out["error"] is None
