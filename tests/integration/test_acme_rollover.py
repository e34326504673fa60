"""DANE key rollover (RFC 7671 §8.1) against pebble and the DNSSEC test network:
postel keeps the current key until the next key's TLSA record is published,
then switches to it with a new certificate (postel.acme.manager)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import testnet as testnet_pkg
from pebblepeer import IP, Pebble, free_port

from postel.acme.challenges import Challenges
from postel.acme.client import Settings
from postel.acme.http01 import HTTP01Server
from postel.acme.manager import ACMEManager
from postel.acme.rollover import Published, tlsa_published
from postel.acme.storage import CertStore, spki_sha256
from postel.dns.resolver import DNSResolver

pytestmark = pytest.mark.integration


@pytest.fixture
def pebble(tmp_path: Path) -> Iterator[Pebble]:
    p = Pebble(tmp_path / "pebble", tls_port=free_port(), http_port=free_port())
    p.start()
    try:
        yield p
    finally:
        p.stop()


async def test_rollover_waits_for_the_tlsa_record_then_switches(
    tmp_path: Path, pebble: Pebble, testnet: testnet_pkg.TestNet
) -> None:
    zone = f"roll{testnet.ip().replace('.', '-')}.test"
    host = f"mail.{zone}"
    names = [host]
    store = CertStore(tmp_path / "data")
    store.ensure(names)
    challenges = Challenges()
    http = HTTP01Server(challenges)
    await http.start([IP], pebble.http_port)
    resolver = DNSResolver([testnet.resolver_ip], timeout=3)

    async def check(digest: str) -> Published:
        return await tlsa_published(resolver, host, digest)

    manager = ACMEManager(
        Settings(pebble.directory, ca_file=str(pebble.ca_file), challenge="http-01"),
        store,
        lambda: names,
        challenges,
        retry_min=1,
        retry_max=2,
        tlsa_check=check,
        rollover_min_wait=dt.timedelta(0),
    )
    try:
        current = spki_sha256(store.host_key("ecdsa"))
        testnet.set_zone(zone, [f"_25._tcp.mail 2 TLSA 3 1 1 {current}", "mail A 127.0.0.1"])
        await manager.step()
        assert manager.issued == 1
        assert store.start_rollover("ecdsa")
        upcoming = spki_sha256(store.next_key("ecdsa"))
        assert [d for k, d, nxt in store.tlsa_digests() if k == "ecdsa"] == [current, upcoming]

        # Not published yet: the current key stays.
        await manager.step()
        assert manager.rollovers == 0
        assert spki_sha256(store.host_key("ecdsa")) == current
        assert store.pending_rollovers() == ["ecdsa"]

        # Published (current + next, RFC 7671 §8.1): the next key is used.
        testnet.set_zone(
            zone,
            [
                f"_25._tcp.mail 2 TLSA 3 1 1 {current}",
                f"_25._tcp.mail 2 TLSA 3 1 1 {upcoming}",
                "mail A 127.0.0.1",
            ],
        )
        await manager.step()  # first seen; switches once the old RRset's TTL (2 s) is over
        deadline = dt.datetime.now() + dt.timedelta(seconds=20)
        while manager.rollovers == 0 and dt.datetime.now() < deadline:
            await manager.step()
        assert manager.rollovers == 1
        assert store.pending_rollovers() == []
        assert spki_sha256(store.host_key("ecdsa")) == upcoming
        leaf = store.chain("ecdsa")[0]
        assert leaf.issuer != leaf.subject
        assert leaf.public_key() == store.host_key("ecdsa").public_key()
    finally:
        await http.stop()
        testnet.remove_zone(zone)
