"""The test network's HTTPS server with the test CA, reached through test DNS."""

from __future__ import annotations

import asyncio
import os
import ssl
from typing import Any

import pytest

from postel.dns.resolver import DNSResolver

pytestmark = pytest.mark.integration

POLICY = "version: STSv1\nmode: enforce\nmx: mx.pol.test\nmax_age: 86400\n"


async def fetch(testnet: Any, ip: str, host: str, path: str) -> tuple[int, bytes]:
    ctx = ssl.create_default_context(cafile=str(testnet.ca_file))
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(ip, 443, ssl=ctx, server_hostname=host), timeout=10
    )
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, body


async def test_policy_over_https_via_test_dns(testnet: Any) -> None:
    zone = f"pol{os.getpid()}.test"
    host = f"mta-sts.{zone}"
    testnet.set_zone(zone, ['_mta-sts TXT "v=STSv1; id=7"', f"mta-sts A {testnet.https_ip}"])
    ip = testnet.https_serve(host, "/.well-known/mta-sts.txt", POLICY)
    assert ip == testnet.https_ip
    answer = await DNSResolver([testnet.resolver_ip], timeout=10).a(host)
    assert answer.authentic is True
    address = answer.records[0].to_text()
    assert address == ip
    status, body = await fetch(testnet, address, host, "/.well-known/mta-sts.txt")
    assert status == 200
    assert body.decode() == POLICY
    assert testnet.https_requests[-1].sni == host
    assert testnet.https_requests[-1].path == "/.well-known/mta-sts.txt"

    status, _ = await fetch(testnet, address, host, "/other")
    assert status == 404


async def test_status_and_other_ip(testnet: Any) -> None:
    ip = testnet.ip()
    assert testnet.https_serve("err.test", "/p", b"gone", status=410, ip=ip) == ip
    status, body = await fetch(testnet, ip, "err.test", "/p")
    assert (status, body) == (410, b"gone")


@pytest.mark.parametrize(
    ("cert", "reason"),
    [
        ("expired", "certificate has expired"),
        ("wrong-name", "Hostname mismatch"),
        ("untrusted", "unable to get local issuer certificate"),
    ],
)
async def test_bad_certificates(testnet: Any, cert: str, reason: str) -> None:
    host = f"{cert}.https.test"
    testnet.https_serve(host, "/x", "body", cert=cert)
    with pytest.raises(ssl.SSLCertVerificationError, match=reason):
        await fetch(testnet, testnet.https_ip, host, "/x")
