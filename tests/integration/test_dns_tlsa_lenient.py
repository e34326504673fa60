"""A TLSA record with a wrong-length digest is unusable, not a failed lookup (RFC 7672 §3.1)."""

from __future__ import annotations

from typing import Any

import pytest

from postel.dane import TLSARecord
from postel.dns.resolver import DNSResolver

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


async def test_bad_length_tlsa_keeps_the_usable_records(testnet: Any) -> None:
    good = "33" * 32
    testnet.set_zone(
        "tlsalen.test",
        ["mx A 127.0.0.1", f"_25._tcp.mx TLSA 3 1 1 {good}", "_25._tcp.mx TLSA 3 1 1 abcd"],
        dnssec="signed",
    )
    resolver = DNSResolver([testnet.resolver_ip], timeout=5)
    answer = await resolver.tlsa("_25._tcp.mx.tlsalen.test")
    assert answer.authentic
    records = sorted(TLSARecord.from_rdata(r) for r in answer.records)
    assert [(r.data.hex(), r.usable) for r in records] == [(good, True), ("abcd", False)]
