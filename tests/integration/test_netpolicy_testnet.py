"""Server-side requests to internal addresses over the loopback
test network: DNS through unbound/knot names a policy host or MX on 127.x; the
MTA-STS fetch, the webmail's recipient security lookup and delivery refuse it
unless the allowed internal networks contain it, and work when they do."""

from __future__ import annotations

import asyncio
import itertools
import socket
from pathlib import Path
from typing import Any

import pytest

from postel.config import load_config
from postel.delivery import Deliverer, DeliveryRequest
from postel.dns.resolver import DNSResolver
from postel.mtasts.errors import PolicyFetchError
from postel.mtasts.fetch import WELL_KNOWN_PATH, make_ssl_context
from postel.mtasts.lookup import lookup
from postel.mtasts.policy import Mode
from postel.mtastsdb import MTASTSDB
from postel.netpolicy import PUBLIC_ONLY, AddressPolicy
from postel.recipientsecurity import Value, evaluate_recipient
from postel.store import Store

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

LOOPBACK = AddressPolicy.from_networks(["127.0.0.0/8"])
POLICY = "version: STSv1\nmode: enforce\nmx: mx.{zone}\nmax_age: 86400\n"
_counter = itertools.count()


def _zone(testnet: Any, *, mx_ip: str = "192.0.2.25") -> str:
    """A zone whose MTA-STS policy host is the test network's HTTPS server on 127.x.
    The default MX address is only ever looked up, never connected to."""
    zone = f"internal{next(_counter)}-{testnet.https_ip.split('.')[1]}.test"
    testnet.set_zone(
        zone,
        [
            f"mta-sts A {testnet.https_ip}",
            '_mta-sts TXT "v=STSv1; id=20261206"',
            "@ MX 10 mx",
            f"mx A {mx_ip}",
        ],
    )
    testnet.https_serve(f"mta-sts.{zone}", WELL_KNOWN_PATH, POLICY.format(zone=zone))
    return zone


def _fetched(testnet: Any, zone: str) -> int:
    return sum(1 for r in testnet.https_requests if r.host == f"mta-sts.{zone}")


async def test_mtasts_fetch_refuses_loopback_policy_host_unless_allowed(testnet: Any) -> None:
    zone = _zone(testnet)
    resolver = DNSResolver([testnet.resolver_ip])
    ctx = make_ssl_context([testnet.ca_file])

    refused = await lookup(resolver, zone, ssl_context=ctx, timeout=20)
    assert isinstance(refused.error, PolicyFetchError)
    assert (
        f"policy host mta-sts.{zone} resolves only to internal addresses "
        f"({testnet.https_ip} is a loopback address), not fetched" in str(refused.error)
    )
    assert refused.record is not None and refused.policy is None
    assert _fetched(testnet, zone) == 0  # no request reached the server

    allowed = await lookup(resolver, zone, ssl_context=ctx, timeout=20, addresses=LOOPBACK)
    assert allowed.error is None, allowed.error
    assert allowed.policy is not None and allowed.policy.mode is Mode.ENFORCE
    assert _fetched(testnet, zone) == 1


@pytest.mark.parametrize("via_cache", [True, False], ids=["mtasts-cache", "direct"])
async def test_recipient_security_refuses_loopback_policy_host_unless_allowed(
    testnet: Any, tmp_path: Path, via_cache: bool
) -> None:
    zone = _zone(testnet)
    resolver = DNSResolver([testnet.resolver_ip])

    async def evaluate(addresses: AddressPolicy, name: str) -> Any:
        db = None
        if via_cache:
            db = MTASTSDB.open(
                tmp_path / f"{name}.db", extra_ca_files=[testnet.ca_file], addresses=addresses
            )
        try:
            return await evaluate_recipient(
                f"user@{zone}",
                resolver=resolver,
                memory=None,
                mtastsdb=db,
                ssl_context=make_ssl_context([testnet.ca_file]),
                addresses=addresses,
            )
        finally:
            if db is not None:
                db.close()

    refused = await evaluate(PUBLIC_ONLY, "refused")
    assert refused.mtasts.value is Value.NO
    assert "resolves only to internal addresses" in refused.mtasts.detail
    assert "Errno" not in refused.mtasts.detail
    assert _fetched(testnet, zone) == 0

    allowed = await evaluate(LOOPBACK, "allowed")
    assert allowed.mtasts.value is Value.YES, allowed.mtasts.detail
    assert _fetched(testnet, zone) == 1


async def test_delivery_to_loopback_mx_refused_unless_allowed(testnet: Any, tmp_path: Path) -> None:
    mx_ip = testnet.ip()
    zone = _zone(testnet, mx_ip=mx_ip)
    connections: list[str] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer.get_extra_info("sockname")[0])
        writer.close()  # a session that fails at once: only the connection matters

    with socket.socket() as s:
        s.bind((mx_ip, 0))
        port = s.getsockname()[1]
    server = await asyncio.start_server(handle, mx_ip, port)
    message = tmp_path / "msg.eml"
    message.write_bytes(b"From: alice@sender.test\r\nSubject: x\r\n\r\nHello.\r\n")

    async def deliver(allowed: str) -> Any:
        d = tmp_path / f"sender{next(_counter)}"
        d.mkdir()
        (d / "postel.toml").write_text(
            f"""
hostname = "mail.sender.test"
postmaster_account = "alice"
[listeners]
[delivery]
smtp_port = {port}
connect_timeout = 5
{allowed}
"""
        )
        (d / "domains.toml").write_text(
            '[domains."sender.test"]\n[accounts.alice]\ndomain = "sender.test"\n'
            'addresses = ["alice@sender.test"]\n'
        )
        cfg = load_config(d)
        cfg.datadir.ensure()
        store = Store(cfg.datadir)
        dl = Deliverer(cfg, DNSResolver([testnet.resolver_ip]), None, store, command_timeout=10)
        try:
            outcome = await dl.deliver(
                DeliveryRequest(
                    domain=zone,
                    mail_from="alice@sender.test",
                    rcpts=[f"user@{zone}"],
                    message=message,
                    sender_account="alice",
                )
            )
            return list(outcome.recipients)
        finally:
            await dl.aclose()
            store.close()

    async with server:
        [refused] = await deliver("")
        assert (refused.status, refused.code, refused.enhanced) == ("permanent", 550, "5.4.4")
        assert f"({mx_ip} is a loopback address)" in refused.message
        assert connections == []

        [allowed] = await deliver('allowed_internal_networks = ["127.0.0.0/8"]')
        assert connections == [mx_ip]
        assert allowed.status == "temporary"  # the peer hung up: connected, then failed
