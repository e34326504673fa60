"""check_validating with the mock resolver."""

from __future__ import annotations

from postel.dns import BogusError, TemporaryError
from postel.dns.check import check_validating
from postel.dns.mock import MockResolver

ROOT = (".", "SOA")
SOA = ["a.root-servers.net. nstld.verisign-grs.com. 2024010100 1800 900 604800 86400"]


async def test_validating_with_bogus_refused() -> None:
    m = MockResolver(
        {ROOT: SOA, ("dnssec-failed.org", "A"): BogusError("dnssec-failed.org.", "A", ede_code=9)}
    )
    ok, msg = await check_validating(m)
    assert ok is True
    assert "authentic" in msg and "EDE 9 (DNSKEY Missing)" in msg


async def test_validating_servfail_without_ede() -> None:
    m = MockResolver({ROOT: SOA, ("dnssec-failed.org", "A"): TemporaryError("SERVFAIL")})
    ok, msg = await check_validating(m)
    assert ok is True
    assert "SERVFAIL" in msg


async def test_no_ad_bit() -> None:
    ok, msg = await check_validating(MockResolver({ROOT: SOA}, authentic=False))
    assert ok is False
    assert "without the AD bit" in msg


async def test_bogus_name_answered() -> None:
    m = MockResolver({ROOT: SOA, ("dnssec-failed.org", "A"): ["192.0.2.1"]})
    ok, msg = await check_validating(m)
    assert ok is False
    assert "broken on purpose" in msg


async def test_probe_fails() -> None:
    ok, msg = await check_validating(MockResolver({ROOT: TemporaryError("timeout")}))
    assert ok is False
    assert "cannot check" in msg and "timeout" in msg


async def test_custom_probe_without_bogus_probe() -> None:
    m = MockResolver({("signed.test", "SOA"): ["ns.test. h.test. 1 2 3 4 5"]})
    ok, msg = await check_validating(m, "signed.test.", bogus_probe=None)
    assert ok is True
    assert "signed.test. SOA" in msg
