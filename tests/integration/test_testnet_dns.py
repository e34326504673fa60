"""postel.dns against the real test network: knot (signed test.) + unbound."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest
from click.testing import CliRunner

from postel.cli.dns import command as dns_command
from postel.dns import BogusError, NotFound
from postel.dns.check import check_validating
from postel.dns.ede import is_dnssec_failure
from postel.dns.resolver import DNSResolver

pytestmark = pytest.mark.integration


def resolver(testnet: Any) -> DNSResolver:
    return DNSResolver([testnet.resolver_ip], timeout=10.0)


def test_addresses_are_our_own(testnet: Any) -> None:
    assert testnet.resolver_ip.startswith("127.")
    assert not testnet.resolver_ip.startswith("127.0.")
    prefix = testnet.resolver_ip.rsplit(".", 1)[0]
    assert testnet.knot_ip == f"{prefix}.1"
    assert testnet.resolver_ip == f"{prefix}.2"
    assert testnet.ip(20) == f"{prefix}.20"
    a, b = testnet.ip(), testnet.ip()
    assert a != b and int(a.rsplit(".", 1)[1]) >= 10


async def test_signed_zone_is_authentic(testnet: Any) -> None:
    r = resolver(testnet)
    mx = await r.mx("signed.test")
    assert mx.authentic is True
    assert [rd.to_text() for rd in mx.records] == ["10 mx.signed.test."]
    a = await r.a("mx.signed.test.")
    assert a.authentic is True
    assert [rd.to_text() for rd in a.records] == ["192.0.2.25"]


async def test_signed_tlsa_txt(testnet: Any) -> None:
    r = resolver(testnet)
    tlsa = await r.tlsa("_25._tcp.mx.signed.test")
    assert tlsa.authentic is True
    assert [rd.to_text() for rd in tlsa.records] == ["3 1 1 " + "0123456789abcdef" * 4]
    txt = await r.txt("_mta-sts.signed.test")
    assert txt.authentic is True
    assert txt.texts() == ["v=STSv1; id=1"]


async def test_cname_chain(testnet: Any) -> None:
    r = resolver(testnet)
    answer = await r.a("www.signed.test")
    assert answer.authentic is True
    assert answer.name == "mx.signed.test."
    assert answer.cname_chain == ["alias.signed.test.", "mx.signed.test."]
    assert [rd.to_text() for rd in answer.records] == ["192.0.2.25"]
    cname = await r.cname("www.signed.test")
    assert [rd.to_text() for rd in cname.records] == ["alias.signed.test."]


async def test_unsigned_zone_is_not_authentic(testnet: Any) -> None:
    r = resolver(testnet)
    for answer in (await r.mx("unsigned.test"), await r.a("www.unsigned.test")):
        assert answer.authentic is False
        assert answer.records


async def test_bogus_zone_raises_with_ede(testnet: Any) -> None:
    r = resolver(testnet)
    with pytest.raises(BogusError) as ei:
        await r.mx("bogus.test")
    # unbound: 9 DNSKEY Missing ("DS hash mismatches key") on the first query,
    # 6 DNSSEC Bogus once the bad key is cached.
    assert ei.value.ede_code in (6, 9)
    assert is_dnssec_failure(ei.value.ede_code)
    assert f"EDE {ei.value.ede_code}" in str(ei.value)


async def test_nxdomain_and_nodata(testnet: Any) -> None:
    r = resolver(testnet)
    with pytest.raises(NotFound) as ei:
        await r.a("nothing.signed.test")
    assert ei.value.nxdomain is True
    assert ei.value.authentic is True
    with pytest.raises(NotFound) as ei:
        await r.tlsa("_25._tcp.signed.test")
    assert ei.value.nxdomain is True
    with pytest.raises(NotFound) as ei:
        await r.aaaa("mx.signed.test")
    assert ei.value.nxdomain is False
    assert ei.value.authentic is True
    with pytest.raises(NotFound) as ei:
        await r.aaaa("mx.unsigned.test")
    assert ei.value.nxdomain is False
    assert ei.value.authentic is False
    # NODATA at the end of a CNAME chain.
    with pytest.raises(NotFound) as ei:
        await r.aaaa("www.signed.test")
    assert ei.value.nxdomain is False
    assert ei.value.name == "mx.signed.test."


async def test_check_validating(testnet: Any) -> None:
    ok, msg = await check_validating(
        resolver(testnet), "signed.test.", "SOA", bogus_probe="bogus.test.", bogus_probe_type="MX"
    )
    assert ok is True, msg
    assert "refused as bogus" in msg
    # knot itself is authoritative only and never sets AD: not a validating resolver.
    ok, msg = await check_validating(
        DNSResolver([testnet.knot_ip], timeout=5), "signed.test.", "SOA", bogus_probe=None
    )
    assert ok is False
    assert "without the AD bit" in msg


def test_cli_check_resolver(testnet: Any) -> None:
    args = ["check-resolver", "--probe", "signed.test", "--bogus-probe", "bogus.test"]
    ok = CliRunner().invoke(dns_command, [*args, "--nameserver", testnet.resolver_ip])
    assert ok.exit_code == 0, ok.output
    assert "validates DNSSEC" in ok.output
    bad = CliRunner().invoke(dns_command, [*args, "--nameserver", testnet.knot_ip])
    assert bad.exit_code == 1
    assert "does not validate" in bad.output


async def test_set_zone_between_steps(testnet: Any) -> None:
    zone = f"step{os.getpid()}.test"
    r = resolver(testnet)
    testnet.set_zone(zone, ["@ MX 10 mx1", "mx1 A 192.0.2.10"], dnssec="signed")
    answer = await r.mx(zone)
    assert answer.authentic is True
    assert [rd.to_text() for rd in answer.records] == [f"10 mx1.{zone}."]

    testnet.set_zone(zone, [f"@ MX 20 mx2.{zone}.", "mx2 A 192.0.2.11"], dnssec="signed")
    answer = await r.mx(zone)
    assert [rd.to_text() for rd in answer.records] == [f"20 mx2.{zone}."]
    with pytest.raises(NotFound):
        await r.a(f"mx1.{zone}")

    testnet.set_zone(zone, ["@ MX 20 mx2", "mx2 A 192.0.2.11"], dnssec="unsigned")
    answer = await r.mx(zone)
    assert answer.authentic is False

    testnet.set_zone(zone, ["@ MX 20 mx2", "mx2 A 192.0.2.11"], dnssec="bogus")
    with pytest.raises(BogusError):
        await r.mx(zone)

    testnet.set_zone(zone, ["@ MX 30 mx3", "mx3 A 192.0.2.12"], dnssec="signed")
    answer = await r.mx(zone)
    assert answer.authentic is True
    assert [rd.to_text() for rd in answer.records] == [f"30 mx3.{zone}."]

    testnet.remove_zone(zone)
    with pytest.raises(NotFound) as ei:
        await r.mx(zone)
    assert ei.value.nxdomain is True


def test_set_zone_rejects_names_outside_test(testnet: Any) -> None:
    with pytest.raises(ValueError, match=r"below test\."):
        testnet.set_zone("example.com", [])
    with pytest.raises(ValueError, match=r"below test\."):
        testnet.set_zone("test", [])
    with pytest.raises(ValueError, match="dnssec"):
        testnet.set_zone("x.test", [], dnssec="maybe")


async def test_parallel_lookups(testnet: Any) -> None:
    r = resolver(testnet)
    answers = await asyncio.gather(*(r.a("mx.signed.test") for _ in range(20)))
    assert all(a.authentic for a in answers)
