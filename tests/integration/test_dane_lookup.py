"""TLSA lookups through a real validating resolver (unbound) and signed/unsigned zones (knot)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner

import postel.cli.dane as cli_dane
from postel.dane.lookup import expand_host, lookup_tlsa
from postel.dns.resolver import DNSResolver

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(120),
    pytest.mark.usefixtures("every_log_level"),
]

H1 = "11" * 32
H2 = "22" * 32


def _records(host_ip: str = "127.0.0.1") -> list[str]:
    return [
        f"mx A {host_ip}",
        f"_25._tcp.mx TLSA 3 1 1 {H1}",
        f"_25._tcp.mx TLSA 1 1 1 {H2}",
        "alias CNAME target",
        f"target A {host_ip}",
        f"_25._tcp.target TLSA 2 0 1 {H2}",
    ]


@pytest.fixture(scope="module")
def zones(testnet: Any) -> dict[str, str]:
    names = {
        "signed": "danesigned.test",
        "unsigned": "daneunsigned.test",
        "bogus": "danebogus.test",
    }
    for kind, zone in names.items():
        testnet.set_zone(zone, _records(), dnssec=kind)
    return names


def _cli(testnet: Any, host: str, *extra: str) -> tuple[int, dict[str, Any] | None, str]:
    result = CliRunner().invoke(
        cli_dane.command, ["lookup", host, "--nameserver", testnet.resolver_ip, *extra]
    )
    out = json.loads(result.stdout) if result.exit_code == 0 else None
    return result.exit_code, out, result.stderr


def test_signed_zone_is_authentic(testnet: Any, zones: dict[str, str]) -> None:
    code, out, err = _cli(testnet, f"mx.{zones['signed']}")
    assert code == 0, err
    assert out is not None
    assert out["host_authentic"] is True and out["authentic"] is True
    assert out["dane_applies"] is True
    assert sorted(r["text"] for r in out["records"]) == [f"1 1 1 {H2}", f"3 1 1 {H1}"]
    assert out["policy_strings"] == [f"3 1 1 {H1}"]


def test_unsigned_zone_is_not_authentic(testnet: Any, zones: dict[str, str]) -> None:
    code, out, err = _cli(testnet, f"mx.{zones['unsigned']}")
    assert code == 0, err
    assert out is not None
    assert out["authentic"] is False and out["host_authentic"] is False
    assert out["dane_applies"] is False
    assert len(out["records"]) == 2


def test_signed_cname_uses_expanded_base_domain(testnet: Any, zones: dict[str, str]) -> None:
    code, out, err = _cli(testnet, f"alias.{zones['signed']}")
    assert code == 0, err
    assert out is not None
    assert out["expanded_host"] == f"target.{zones['signed']}"
    assert out["tlsa_base_domain"] == f"target.{zones['signed']}"
    assert [r["text"] for r in out["records"]] == [f"2 0 1 {H2}"]
    assert out["authentic"] is True


def test_unsigned_cname_is_not_followed(testnet: Any, zones: dict[str, str]) -> None:
    code, out, err = _cli(testnet, f"alias.{zones['unsigned']}")
    assert code == 0, err
    assert out is not None
    # RFC 7672 §2.2.3: only an authentic expansion moves the TLSA base domain.
    assert out["tlsa_base_domain"] == f"alias.{zones['unsigned']}"
    assert out["records"] == []


def test_bogus_zone_is_an_error(testnet: Any, zones: dict[str, str]) -> None:
    code, _, err = _cli(testnet, f"mx.{zones['bogus']}")
    assert code == 1
    assert "DNSSEC" in err or "Bogus" in err


async def test_library_lookup(testnet: Any, zones: dict[str, str]) -> None:
    resolver = DNSResolver(nameservers=[testnet.resolver_ip], timeout=10.0)
    exp = await expand_host(resolver, f"mx.{zones['signed']}")
    assert exp.authentic is True
    found = await lookup_tlsa(resolver, exp.host, 25, exp.expanded, bool(exp.authentic))
    assert found.authentic is True
    assert {r.text() for r in found.records} == {f"1 1 1 {H2}", f"3 1 1 {H1}"}
    none = await lookup_tlsa(resolver, f"target.{zones['signed']}", 587)
    assert none.records == () and none.authentic is True  # authenticated denial
