"""Next hops, host addresses and TLSA per RFC 7672 §2.2 with a MockResolver."""

from __future__ import annotations

import asyncio
import random

import pytest

from postel.delivery import NextHopLookupError, NullMX, gather_ips, gather_next_hops, gather_tlsa
from postel.dns import Answer, BogusError, Resolver, TemporaryError
from postel.dns.mock import MockResolver

TLSA_EE = "3 1 1 " + "ab" * 32


def rng() -> random.Random:
    return random.Random(1)


async def test_mx_sorted_by_preference() -> None:
    r = MockResolver(
        {
            ("example.com", "MX"): ["20 b.example.com.", "10 a.example.com.", "30 c.example.com."],
        }
    )
    hops = await gather_next_hops(r, "Example.COM.", rng=rng())
    assert hops.hosts == ["a.example.com", "b.example.com", "c.example.com"]
    assert hops.have_mx and hops.orig_authentic and hops.expanded_authentic
    assert hops.expanded == "example.com"


async def test_equal_preference_is_random() -> None:
    r = MockResolver({("example.com", "MX"): [f"10 m{i}.example.com." for i in range(8)]})
    orders = {tuple((await gather_next_hops(r, "example.com")).hosts) for _ in range(20)}
    assert len(orders) > 1
    assert all(sorted(o) == sorted(next(iter(orders))) for o in orders)


async def test_no_mx_uses_domain_itself() -> None:
    r = MockResolver({("example.com", "A"): ["192.0.2.1"]})
    hops = await gather_next_hops(r, "example.com")
    assert hops.hosts == ["example.com"] and not hops.have_mx


async def test_null_mx_is_permanent_5_1_10() -> None:
    r = MockResolver({("example.com", "MX"): ["0 ."]})
    with pytest.raises(NullMX) as e:
        await gather_next_hops(r, "example.com")
    assert e.value.permanent and e.value.enhanced == "5.1.10"


async def test_cname_chain_followed_to_mx() -> None:
    r = MockResolver(
        {
            ("example.com", "CNAME"): ["a.example.net."],
            ("a.example.net", "CNAME"): ["b.example.org."],
            ("b.example.org", "MX"): ["10 mx.example.org."],
        }
    )
    hops = await gather_next_hops(r, "example.com")
    assert hops.expanded == "b.example.org" and hops.hosts == ["mx.example.org"]


async def test_cname_loop_rejected() -> None:
    r = MockResolver(
        {
            ("a.example", "CNAME"): ["b.example."],
            ("b.example", "CNAME"): ["a.example."],
        }
    )
    with pytest.raises(NextHopLookupError, match="loop"):
        await gather_next_hops(r, "a.example")


async def test_cname_chain_limit_16() -> None:
    records: dict[tuple[str, str], list[str]] = {
        (f"c{i}.example", "CNAME"): [f"c{i + 1}.example."] for i in range(17)
    }
    records[("c17.example", "MX")] = ["10 mx.example."]
    with pytest.raises(NextHopLookupError, match="16"):
        await gather_next_hops(MockResolver(records), "c0.example")
    # 16 CNAMEs are fine.
    ok = {k: v for k, v in records.items() if k[0] != "c0.example"}
    hops = await gather_next_hops(MockResolver(ok), "c1.example")
    assert hops.hosts == ["mx.example"]


async def test_mx_temporary_error() -> None:
    r = MockResolver({("example.com", "MX"): TemporaryError("SERVFAIL")})
    with pytest.raises(NextHopLookupError) as e:
        await gather_next_hops(r, "example.com")
    assert not e.value.permanent and isinstance(e.value.cause, TemporaryError)


async def test_mx_bogus_keeps_cause() -> None:
    r = MockResolver({("example.com", "MX"): BogusError("example.com.", "MX", ede_code=7)})
    with pytest.raises(NextHopLookupError) as e:
        await gather_next_hops(r, "example.com")
    assert isinstance(e.value.cause, BogusError) and e.value.cause.ede_code == 7


@pytest.mark.parametrize(
    ("authentic", "orig", "expanded", "dane"),
    [
        ({"example.com", "alias.example.net"}, True, True, True),
        ({"example.com"}, True, False, False),  # expanded (MX answer) insecure
        ({"alias.example.net"}, False, False, False),  # original insecure
        (set(), False, False, False),
    ],
)
async def test_authenticity_original_and_expanded(
    authentic: set[str], orig: bool, expanded: bool, dane: bool
) -> None:
    r = MockResolver(
        {
            ("example.com", "CNAME"): ["alias.example.net."],
            ("alias.example.net", "MX"): ["10 mx.example.net."],
        },
        authentic=authentic,
    )
    hops = await gather_next_hops(r, "example.com")
    assert (hops.orig_authentic, hops.expanded_authentic, hops.dane_possible) == (
        orig,
        expanded,
        dane,
    )


async def test_no_mx_dane_needs_only_original() -> None:
    r = MockResolver({("example.com", "A"): ["192.0.2.1"]}, authentic={"example.com"})
    hops = await gather_next_hops(r, "example.com")
    assert not hops.have_mx and hops.orig_authentic and hops.dane_possible


async def test_host_ips_ipv6_first_with_cname() -> None:
    r = MockResolver(
        {
            ("mx.example.com", "CNAME"): ["real.example.net."],
            ("real.example.net", "A"): ["192.0.2.25"],
            ("real.example.net", "AAAA"): ["2001:db8::25"],
        }
    )
    a = await gather_ips(r, "mx.example.com")
    assert a.ips == ["2001:db8::25", "192.0.2.25"]
    assert a.expanded == "real.example.net" and a.authentic and a.error is None


async def test_host_without_addresses() -> None:
    a = await gather_ips(MockResolver({("x.example", "TXT"): ['"x"']}), "mx.example")
    assert a.ips == [] and a.error is not None


async def test_host_bogus_address() -> None:
    r = MockResolver({("mx.example", "*"): BogusError("mx.example.", "A", ede_code=9)})
    a = await gather_ips(r, "mx.example")
    assert a.ips == [] and isinstance(a.error, BogusError)


async def _tlsa_for(records: dict, authentic: bool | set[str] = True, host: str = "mx.example.com"):
    r = MockResolver(records, authentic=authentic)
    hops = await gather_next_hops(r, "example.com")
    addrs = await gather_ips(r, host)
    return await gather_tlsa(r, hops, addrs), r


BASE = {
    ("example.com", "MX"): ["10 mx.example.com."],
    ("mx.example.com", "A"): ["192.0.2.25"],
}


async def test_tlsa_found_when_all_authentic() -> None:
    t, _ = await _tlsa_for({**BASE, ("_25._tcp.mx.example.com", "TLSA"): [TLSA_EE]})
    assert t.applies and t.error is None and len(t.records) == 1
    assert t.base_domain == "mx.example.com" and t.allowed_names == ["mx.example.com"]


async def test_tlsa_not_looked_up_when_host_insecure() -> None:
    t, r = await _tlsa_for(
        {**BASE, ("_25._tcp.mx.example.com", "TLSA"): [TLSA_EE]}, authentic={"example.com"}
    )
    assert not t.applies and t.records == []
    assert ("_25._tcp.mx.example.com.", "TLSA") not in r.queries


async def test_tlsa_not_looked_up_when_mx_insecure() -> None:
    t, _ = await _tlsa_for(
        {**BASE, ("_25._tcp.mx.example.com", "TLSA"): [TLSA_EE]},
        authentic={"mx.example.com", "_25._tcp.mx.example.com"},
    )
    assert not t.applies


async def test_tlsa_at_expanded_host_when_authentic() -> None:
    records = {
        ("example.com", "MX"): ["10 mx.example.com."],
        ("mx.example.com", "CNAME"): ["real.example.net."],
        ("real.example.net", "A"): ["192.0.2.25"],
        ("_25._tcp.real.example.net", "TLSA"): [TLSA_EE],
    }
    t, _ = await _tlsa_for(records)
    assert t.base_domain == "real.example.net"
    assert t.allowed_names == ["real.example.net", "mx.example.com"]
    assert len(t.records) == 1


async def test_tlsa_falls_back_to_original_host() -> None:
    records = {
        ("example.com", "MX"): ["10 mx.example.com."],
        ("mx.example.com", "CNAME"): ["real.example.net."],
        ("real.example.net", "A"): ["192.0.2.25"],
        ("_25._tcp.mx.example.com", "TLSA"): [TLSA_EE],
    }
    t, _ = await _tlsa_for(records)
    assert t.base_domain == "mx.example.com" and len(t.records) == 1


async def test_tlsa_lookup_error_means_dane_required() -> None:
    t, _ = await _tlsa_for(
        {**BASE, ("_25._tcp.mx.example.com", "TLSA"): TemporaryError("SERVFAIL")}
    )
    assert t.applies and isinstance(t.error, TemporaryError)


async def test_no_tlsa_secure_denial() -> None:
    t, _ = await _tlsa_for(dict(BASE))
    assert t.applies and t.records == [] and t.error is None


class SlowResolver(Resolver):
    """A MockResolver whose answers take *delay* seconds; counts the lookups
    in flight at once."""

    def __init__(self, inner: MockResolver, delay: float = 0.05) -> None:
        self.inner, self.delay = inner, delay
        self.running = self.max_running = 0

    async def lookup(self, name: str, rdtype: str) -> Answer:
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        try:
            await asyncio.sleep(self.delay)
            return await self.inner.lookup(name, rdtype)
        finally:
            self.running -= 1


async def test_lookups_of_a_name_without_cname_are_asked_at_once() -> None:
    """The AAAA and A of a host go out together: one round trip, not one per
    record type."""
    r = SlowResolver(
        MockResolver(
            {
                ("example.com", "MX"): ["10 mx.example.com."],
                ("mx.example.com", "A"): ["192.0.2.1"],
                ("mx.example.com", "AAAA"): ["2001:db8::1"],
            }
        )
    )
    hops = await gather_next_hops(r, "example.com")
    assert hops.hosts == ["mx.example.com"]
    r.max_running = 0
    addrs = await gather_ips(r, "mx.example.com")
    assert r.max_running == 2
    assert addrs.ips == ["2001:db8::1", "192.0.2.1"] and addrs.error is None


async def test_lookups_after_a_cname_are_of_its_target() -> None:
    """A host with a CNAME: its addresses are those of the CNAME's target,
    never of the name itself (the lookups asked before the CNAME was known
    are dropped)."""
    r = MockResolver(
        {
            ("mx.example.com", "CNAME"): ["real.example.net."],
            ("mx.example.com", "A"): ["192.0.2.99"],
            ("real.example.net", "A"): ["192.0.2.1"],
        }
    )
    addrs = await gather_ips(r, "mx.example.com")
    assert addrs.ips == ["192.0.2.1"] and addrs.expanded == "real.example.net"


@pytest.mark.parametrize("authentic", [True, False])
async def test_a_name_whose_answers_show_no_cname_is_not_asked_for_one(authentic: bool) -> None:
    """A name with a CNAME has no other data (RFC 2181 §10.1) and a resolver
    answers through it: answers at the name itself (records, NODATA or
    NXDOMAIN) show it has none, so no CNAME lookup is made; the DNSSEC status
    is that of those answers."""
    r = MockResolver(
        {
            ("example.com", "MX"): ["10 mx.example.com.", "20 nomx.example.com."],
            ("mx.example.com", "A"): ["192.0.2.1"],
            ("nomx.example.com", "TXT"): ["v=spf1 -all"],
        },
        authentic=authentic,
    )
    hops = await gather_next_hops(r, "example.com", rng=rng())
    addrs = await gather_ips(r, "mx.example.com")  # AAAA: NODATA
    none = await gather_ips(r, "nomx.example.com")  # both NODATA
    gone = await gather_ips(r, "gone.example.org")  # NXDOMAIN
    assert [q for q in r.queries if q[1] == "CNAME"] == []
    assert (hops.orig_authentic, hops.expanded_authentic) == (authentic, authentic)
    assert hops.expanded == "example.com" and hops.have_mx
    assert addrs.ips == ["192.0.2.1"] and addrs.expanded == "mx.example.com"
    assert addrs.authentic is authentic and addrs.first_authentic is authentic
    assert none.ips == [] and none.error is not None
    assert gone.ips == [] and gone.error is not None and gone.authentic is authentic


async def test_a_cname_seen_in_an_answer_is_followed_step_by_step() -> None:
    """An answer that came through a CNAME: the chain is asked for link by
    link (each link's DNSSEC status, RFC 7672 §2.2.1) and the records are
    those of its end."""
    r = MockResolver(
        {
            ("mx.example.com", "CNAME"): ["real.example.net."],
            ("real.example.net", "A"): ["192.0.2.1"],
        },
        authentic={"mx.example.com"},
    )
    addrs = await gather_ips(r, "mx.example.com")
    assert ("mx.example.com.", "CNAME") in r.queries
    assert addrs.ips == ["192.0.2.1"] and addrs.expanded == "real.example.net"
    assert addrs.first_authentic and not addrs.expanded_authentic


async def test_a_failed_lookup_still_asks_for_the_cname() -> None:
    """A lookup that failed shows nothing about CNAMEs: the CNAME is asked as
    before, and its failure is the one reported."""
    r = MockResolver(
        {
            ("example.com", "MX"): TemporaryError("example.com MX: timeout", qname="example.com"),
            ("example.com", "CNAME"): TemporaryError("example.com CNAME: timeout"),
        }
    )
    with pytest.raises(NextHopLookupError, match=r"looking up CNAME of example\.com"):
        await gather_next_hops(r, "example.com")
