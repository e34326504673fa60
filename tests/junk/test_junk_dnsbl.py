"""DNSBL lookups (RFC 5782) against a resolver stand-in; the test network has
the real zone (tests/integration/test_junk_dnsbl_testnet.py)."""

from __future__ import annotations

import asyncio

from postel.dns import Resolver
from postel.dns.answer import Answer
from postel.dns.errors import TemporaryError
from postel.dns.mock import MockResolver
from postel.junk.dnsbl import check, listing_codes, query_name


def test_query_names_rfc5782() -> None:
    assert query_name("192.0.2.99", "bl.example.") == "99.2.0.192.bl.example"
    # RFC 5782 §2.4: nibbles of the full address, reversed.
    name = query_name("2001:db8:1:2:3:4:567:89ab", "bl.example")
    assert name == "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.bl.example"


def test_listing_codes() -> None:
    assert listing_codes(["127.0.0.2", "127.0.0.4"]) == (("127.0.0.2", "127.0.0.4"), False)
    assert listing_codes(["127.0.0.1"]) == ((), False)  # not a listing
    assert listing_codes(["127.255.255.254"]) == ((), True)  # the list refused us
    assert listing_codes(["10.0.0.2"]) == ((), False)  # outside 127/8: ignored


async def test_check_listed_unlisted_refused_and_failed() -> None:
    r = MockResolver({
        ("2.2.0.192.bl-a.test", "A"): ["127.0.0.2"],
        ("2.2.0.192.bl-a.test", "TXT"): ['"listed: see https://bl-a.test/192.0.2.2"'],
        ("2.2.0.192.bl-c.test", "A"): ["127.255.255.254"],
        ("2.2.0.192.bl-d.test", "A"): TemporaryError("SERVFAIL"),
    })  # fmt: skip
    res = await check(r, "192.0.2.2", ["bl-a.test", "bl-b.test", "bl-c.test", "bl-d.test"])
    assert [x.zone for x in res.listed] == ["bl-a.test"]
    assert res.listed[0].codes == ("127.0.0.2",) and "bl-a.test/192.0.2.2" in res.listed[0].reason
    assert len(res.errors) == 2
    assert any("bl-c.test" in e and "refused" in e for e in res.errors)


class Slow(Resolver):
    async def lookup(self, name: str, rdtype: str) -> Answer:
        await asyncio.sleep(30)
        raise AssertionError("not reached")


async def test_a_slow_zone_is_an_error_within_the_bound() -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    res = await check(Slow(), "192.0.2.2", ["slow.test"], timeout=0.2)
    assert loop.time() - start < 1.0
    assert res.listed == () and res.errors == ("slow.test: no answer within 0.2 s",)
