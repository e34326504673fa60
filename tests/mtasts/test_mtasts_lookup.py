"""Record lookup + policy fetch (RFC 8461 §3), with a mock resolver and a local TLS server."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner
from mtasts_server import DOMAIN, HOST, LOOPBACK, PolicyServer, http_response

from postel.cli.main import cli
from postel.dns import BogusError
from postel.dns import TemporaryError as DNSTemporaryError
from postel.dns.mock import MockResolver
from postel.mtasts.errors import (
    RESULT_FETCH_ERROR,
    RESULT_POLICY_INVALID,
    MultipleRecords,
    NoPolicy,
    NoRecord,
    PolicySyntaxError,
    RecordSyntaxError,
    TemporaryLookupError,
)
from postel.mtasts.lookup import lookup, lookup_record, normalise_domain
from postel.mtasts.policy import Mode

POLICY = b"version: STSv1\nmode: testing\nmx: *.example.com\nmax_age: 3600\n"
TXT = "_mta-sts.example.com"


def resolver_with(srv: PolicyServer | None, *txt: str) -> MockResolver:
    records: dict[tuple[str, str], Any] = {(TXT, "TXT"): [f'"{t}"' for t in txt]}
    if srv is not None:
        records[(HOST, "A")] = ["127.0.0.1"]
    return MockResolver(records)


async def test_lookup_ok(policy_server: PolicyServer) -> None:
    policy_server.response = http_response(POLICY)
    resolver = resolver_with(policy_server, "v=spf1 -all", "v=STSv1; id=20240101")
    result = await lookup(
        resolver,
        "Example.COM.",
        ssl_context=policy_server.client_context(),
        addresses=LOOPBACK,
        port=policy_server.port,
        timeout=5,
    )
    assert result.error is None
    assert result.result_type is None
    assert result.domain == DOMAIN
    assert result.record is not None and result.record.id == "20240101"
    assert result.policy is not None and result.policy.mode is Mode.TESTING
    assert result.policy_text == POLICY.decode()
    assert result.policy.matches("mx1.example.com")
    out = result.to_json()
    assert out["record"]["id"] == "20240101"
    assert out["policy"]["mx"] == ["*.example.com"]
    assert out["error"] is None
    json.dumps(out)


async def test_lookup_record_kept_when_policy_missing(policy_server: PolicyServer) -> None:
    policy_server.response = http_response(b"", "404 Not Found")
    result = await lookup(
        resolver_with(policy_server, "v=STSv1; id=1"),
        DOMAIN,
        ssl_context=policy_server.client_context(),
        addresses=LOOPBACK,
        port=policy_server.port,
        timeout=5,
    )
    assert isinstance(result.error, NoPolicy)
    assert result.record is not None and result.record.id == "1"
    assert result.policy is None
    assert result.result_type == RESULT_FETCH_ERROR


async def test_lookup_bad_policy(policy_server: PolicyServer) -> None:
    policy_server.response = http_response(b"version: STSv1\nmode: enforce\nmax_age: 1\n")
    result = await lookup(
        resolver_with(policy_server, "v=STSv1; id=1"),
        DOMAIN,
        ssl_context=policy_server.client_context(),
        addresses=LOOPBACK,
        port=policy_server.port,
        timeout=5,
    )
    assert isinstance(result.error, PolicySyntaxError)
    assert result.result_type == RESULT_POLICY_INVALID
    assert result.to_json()["error"]["result_type"] == RESULT_POLICY_INVALID


async def test_no_record() -> None:
    for resolver in (MockResolver({}), resolver_with(None, "v=spf1 -all"), resolver_with(None)):
        result = await lookup(resolver, DOMAIN)
        assert isinstance(result.error, NoRecord)
        assert result.result_type is None
        assert result.record is None
        # Only the TXT record was asked for: no policy fetch.
        assert resolver.queries == [(f"{TXT}.", "TXT")]


async def test_multiple_records() -> None:
    result = await lookup(resolver_with(None, "v=STSv1; id=1", "v=STSv1; id=2"), DOMAIN)
    assert isinstance(result.error, MultipleRecords)
    assert result.result_type == RESULT_POLICY_INVALID


async def test_record_syntax_error() -> None:
    result = await lookup(resolver_with(None, "v=STSv1; id=bad-id"), DOMAIN)
    assert isinstance(result.error, RecordSyntaxError)
    assert result.error.field == "id"


@pytest.mark.parametrize(
    "error", [DNSTemporaryError("SERVFAIL"), BogusError(TXT, "TXT", ede_code=6)]
)
async def test_dns_failure_is_temporary(error: Exception) -> None:
    resolver = MockResolver({(TXT, "TXT"): error})  # type: ignore[dict-item]
    with pytest.raises(TemporaryLookupError) as exc:
        await lookup_record(resolver, DOMAIN)
    assert exc.value.result_type == RESULT_FETCH_ERROR
    result = await lookup(resolver, DOMAIN)
    assert isinstance(result.error, TemporaryLookupError)


async def test_record_via_cname() -> None:
    resolver = MockResolver(
        {
            (TXT, "CNAME"): ["_mta-sts.provider.example."],
            ("_mta-sts.provider.example", "TXT"): ['"v=STSv1; id=viaCNAME"'],
        }
    )
    assert (await lookup_record(resolver, DOMAIN)).id == "viaCNAME"


def test_normalise_domain() -> None:
    assert normalise_domain("Example.COM.") == "example.com"
    assert normalise_domain("bücher.example") == "xn--bcher-kva.example"
    with pytest.raises(ValueError):
        normalise_domain("a..b")


@pytest.fixture
def cli_resolver(monkeypatch: pytest.MonkeyPatch) -> MockResolver:
    resolver = MockResolver({})
    monkeypatch.setattr("postel.dns.resolver.DNSResolver", lambda *a, **kw: resolver)
    return resolver


def test_cli_lookup_no_record(cli_resolver: MockResolver) -> None:
    result = CliRunner().invoke(cli, ["mtasts", "lookup", DOMAIN, "--nameserver", "127.0.0.1"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["record"] is None
    assert out["error"]["kind"] == "NoRecord"
    assert "no MTA-STS record" in result.stderr


def test_cli_lookup_no_policy_host(cli_resolver: MockResolver) -> None:
    cli_resolver.set(TXT, "TXT", ['"v=STSv1; id=7"'])
    result = CliRunner().invoke(cli, ["mtasts", "lookup", DOMAIN])
    assert result.exit_code == 1
    out = json.loads(result.stdout)
    assert out["record"]["id"] == "7"
    assert out["error"]["result_type"] == RESULT_FETCH_ERROR
    assert f"policy host {HOST} not found" in result.stderr


def test_cli_lookup_bad_domain(cli_resolver: MockResolver) -> None:
    result = CliRunner().invoke(cli, ["mtasts", "lookup", "a..b"])
    assert result.exit_code == 1
    assert "invalid domain name" in result.stderr
