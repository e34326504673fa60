"""TLSA lookup with CNAME handling (RFC 7672 §2.2.3), against the mock resolver, and the CLI."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import postel.cli.dane as cli_dane
from postel.dane.lookup import expand_host, lookup_tlsa
from postel.dns import BogusError, TemporaryError
from postel.dns.mock import MockResolver

H1 = "11" * 32
H2 = "22" * 32


def _resolver(authentic: bool | set[str] = True) -> MockResolver:
    return MockResolver(
        {
            ("mx.example.org", "A"): ["192.0.2.1"],
            ("_25._tcp.mx.example.org", "TLSA"): [f"3 1 1 {H1}", f"1 1 1 {H2}"],
            # An alias whose target has its own TLSA records.
            ("alias.example.org", "CNAME"): ["mx.hoster.example."],
            ("mx.hoster.example", "A"): ["192.0.2.2"],
            ("_25._tcp.mx.hoster.example", "TLSA"): [f"2 0 1 {H2}"],
            ("_25._tcp.alias.example.org", "TLSA"): [f"3 1 1 {H1}"],
            # An alias whose target has no TLSA records: fall back to the alias name.
            ("alias2.example.org", "CNAME"): ["mx2.hoster.example."],
            ("mx2.hoster.example", "A"): ["192.0.2.3"],
            ("_25._tcp.alias2.example.org", "TLSA"): [f"3 1 1 {H1}"],
            ("v6only.example.org", "AAAA"): ["2001:db8::1"],
            ("_25._tcp.broken.example.org", "TLSA"): TemporaryError("SERVFAIL"),
            ("broken.example.org", "A"): ["192.0.2.9"],
        },
        authentic=authentic,
    )


async def test_plain_host() -> None:
    res = _resolver()
    exp = await expand_host(res, "MX.example.org.")
    assert (exp.host, exp.expanded, exp.authentic) == ("mx.example.org", None, True)
    found = await lookup_tlsa(res, exp.host, 25, exp.expanded, bool(exp.authentic))
    assert found.qname == "_25._tcp.mx.example.org."
    assert found.base_domain == "mx.example.org"
    assert found.authentic is True
    assert sorted(r.text() for r in found.records) == [f"1 1 1 {H2}", f"3 1 1 {H1}"]


async def test_authentic_cname_uses_expanded_name_first() -> None:
    res = _resolver()
    exp = await expand_host(res, "alias.example.org")
    assert exp.expanded == "mx.hoster.example" and exp.authentic
    found = await lookup_tlsa(res, exp.host, 25, exp.expanded, True)
    assert found.base_domain == "mx.hoster.example"
    assert [r.text() for r in found.records] == [f"2 0 1 {H2}"]
    assert found.tried == ("_25._tcp.mx.hoster.example.",)


async def test_authentic_cname_falls_back_to_original_name() -> None:
    res = _resolver()
    exp = await expand_host(res, "alias2.example.org")
    found = await lookup_tlsa(res, exp.host, 25, exp.expanded, True)
    assert found.tried == ("_25._tcp.mx2.hoster.example.", "_25._tcp.alias2.example.org.")
    assert found.base_domain == "alias2.example.org"
    assert [r.text() for r in found.records] == [f"3 1 1 {H1}"]


async def test_insecure_cname_expansion_is_not_followed() -> None:
    res = _resolver(authentic={"alias.example.org", "_25._tcp.alias.example.org"})
    exp = await expand_host(res, "alias.example.org")
    assert exp.expanded == "mx.hoster.example" and exp.authentic is False
    found = await lookup_tlsa(res, exp.host, 25, exp.expanded, bool(exp.authentic))
    assert found.tried == ("_25._tcp.alias.example.org.",)
    assert found.authentic is True


async def test_not_found_is_empty_and_other_errors_propagate() -> None:
    res = _resolver()
    none = await lookup_tlsa(res, "v6only.example.org")
    assert none.records == () and none.authentic is True  # authenticated denial
    assert (await expand_host(res, "v6only.example.org")).authentic is True
    assert (await expand_host(res, "nonexistent.example.org")).authentic is None
    with pytest.raises(TemporaryError):
        await lookup_tlsa(res, "broken.example.org")


def _run_cli(monkeypatch: pytest.MonkeyPatch, resolver: MockResolver, *args: str):
    seen: dict[str, object] = {}

    def fake(**kwargs: object) -> MockResolver:
        seen.update(kwargs)
        return resolver

    monkeypatch.setattr(cli_dane, "DNSResolver", fake)
    result = CliRunner().invoke(cli_dane.command, ["lookup", *args])
    return result, seen


def test_cli_lookup_json(monkeypatch: pytest.MonkeyPatch) -> None:
    result, seen = _run_cli(monkeypatch, _resolver(), "mx.example.org", "--nameserver", "127.0.0.1")
    assert result.exit_code == 0, result.output
    assert seen["nameservers"] == ["127.0.0.1"]
    out = json.loads(result.stdout)
    assert out["host"] == "mx.example.org" and out["port"] == 25
    assert out["authentic"] is True and out["host_authentic"] is True
    assert out["dane_applies"] is True and out["any_usable"] is True
    by_text = {r["text"]: r for r in out["records"]}
    assert by_text[f"3 1 1 {H1}"]["usable"] is True
    assert by_text[f"1 1 1 {H2}"]["usable"] is False
    assert "PKIX" in by_text[f"1 1 1 {H2}"]["unusable_reason"]
    assert out["policy_strings"] == [f"3 1 1 {H1}"]


def test_cli_lookup_insecure_and_port(monkeypatch: pytest.MonkeyPatch) -> None:
    res = _resolver(authentic=False)
    res.set("_465._tcp.mx.example.org", "TLSA", [f"3 1 1 {H1}"])
    result, _ = _run_cli(monkeypatch, res, "mx.example.org", "--port", "465")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["qname"] == "_465._tcp.mx.example.org."
    assert out["authentic"] is False and out["dane_applies"] is False


def test_cli_lookup_expanded(monkeypatch: pytest.MonkeyPatch) -> None:
    result, _ = _run_cli(monkeypatch, _resolver(), "alias.example.org")
    out = json.loads(result.stdout)
    assert out["expanded_host"] == "mx.hoster.example"
    assert out["tlsa_base_domain"] == "mx.hoster.example"


def test_cli_lookup_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    result, _ = _run_cli(monkeypatch, _resolver(), "broken.example.org")
    assert result.exit_code == 1
    assert "broken.example.org" in result.stderr and "TemporaryError" in result.stderr
    res = _resolver()
    res.set("bogus.example.org", "*", BogusError("bogus.example.org.", "A", ede_code=6))
    result, _ = _run_cli(monkeypatch, res, "bogus.example.org")
    assert result.exit_code == 1 and "DNSSEC" in result.stderr
    result, _ = _run_cli(monkeypatch, res, "a..b")
    assert result.exit_code == 1 and "a..b" in result.stderr
