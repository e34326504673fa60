"""DNSBL lookups (RFC 5782) through the validating resolver of the test
network, against a blocklist zone served by knot."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from postel.dns.resolver import DNSResolver
from postel.junk.dnsbl import check
from postel.junk.filter import JunkFilter, Settings
from postel.junk.reputation import Verified

pytestmark = pytest.mark.integration


def _zone(testnet: Any, listed_ip: str) -> str:
    zone = f"bl{os.getpid()}.test"
    octets = ".".join(reversed(listed_ip.split(".")))
    testnet.set_zone(
        zone,
        [
            # RFC 5782 §5: every list answers for 127.0.0.2, never for 127.0.0.1.
            "2.0.0.127 A 127.0.0.2",
            '2.0.0.127 TXT "test entry"',
            f"{octets} A 127.0.0.4",
            f'{octets} TXT "spam source, see https://{zone}/lookup"',
        ],
        dnssec="unsigned",
    )
    return zone


async def test_dnsbl_lookups_through_unbound(testnet: Any) -> None:
    sender = testnet.ip()
    zone = _zone(testnet, sender)
    r = DNSResolver([testnet.resolver_ip], timeout=5.0)
    listed = await check(r, sender, [zone, f"empty{os.getpid()}.test"])
    assert [x.zone for x in listed.listed] == [zone]
    assert listed.listed[0].codes == ("127.0.0.4",)
    assert "spam source" in listed.listed[0].reason
    # A name that does not exist (NXDOMAIN) is "not listed", and no error.
    assert listed.errors == ()
    assert (await check(r, "127.0.0.2", [zone])).listed[0].codes == ("127.0.0.2",)
    assert (await check(r, "127.0.0.1", [zone])).listed == ()


async def test_filter_files_a_listed_sender_in_junk(testnet: Any, tmp_path: Path) -> None:
    sender = testnet.ip()
    zone = _zone(testnet, sender)
    r = DNSResolver([testnet.resolver_ip], timeout=5.0)
    settings = Settings(dnsbl_zones=(zone,), dnsbl_internal_senders=True)
    jf = JunkFilter(tmp_path, settings, r)
    msg = b"Subject: hello\r\n\r\nhello\r\n"
    f = await jf.file("u", msg, Verified(ip=sender))
    assert f.target == "junk" and f.reasons == (f"listed by {zone}",)
    assert (await jf.file("u", msg, Verified(ip=testnet.ip()))).target == "inbox"
