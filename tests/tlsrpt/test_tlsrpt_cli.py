"""`postel tlsrpt parse` and `postel tlsrpt lookup`."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import postel.dns.resolver
from postel.cli.main import cli
from postel.dns.errors import TemporaryError
from postel.dns.mock import MockResolver

TESTDATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "testdata" / "tlsrpt"
MANIFEST = re.findall(
    r"^\| (\S+) \| (valid|invalid) \|", (TESTDATA / "MANIFEST.md").read_text(), re.M
)
REPORT_IDS = {
    "rfc8460.json": "5065427c-23d3-47ca-b6e0-946ea0e8c4be",
    "smtp_tls.json": "2024-01-09T00:00:00Z_example.com",
    "smtp_tls.json.gz": "2024-01-09T00:00:00Z_example.com",
}


@pytest.mark.parametrize(("name", "expected"), MANIFEST)
def test_parse_vectors(name: str, expected: str) -> None:
    result = CliRunner().invoke(cli, ["tlsrpt", "parse", str(TESTDATA / name)])
    if expected == "valid":
        assert result.exit_code == 0, result.stderr
        out = json.loads(result.stdout)
        assert out["report-id"] == REPORT_IDS[name]
        assert isinstance(out["policies"][0]["policy"]["mx-host"], list)
    else:
        assert result.exit_code == 1
        assert result.stdout == ""
        assert name in result.stderr
        assert "error:" in result.stderr


def test_parse_strict_rejects_old_mx_host(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["tlsrpt", "parse", "--strict", str(TESTDATA / "rfc8460.json")]
    )
    assert result.exit_code == 1
    assert "policies[0].policy.mx-host" in result.stderr
    lenient = CliRunner().invoke(cli, ["tlsrpt", "parse", str(TESTDATA / "rfc8460.json")])
    assert lenient.exit_code == 0
    assert "warning:" in lenient.stderr and "erratum 6241" in lenient.stderr


def test_parse_generated_gz(tmp_path: Path) -> None:
    gz = tmp_path / "rfc8460.json.gz"
    gz.write_bytes(gzip.compress((TESTDATA / "rfc8460.json").read_bytes()))
    result = CliRunner().invoke(cli, ["tlsrpt", "parse", str(gz)])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["organization-name"] == "Company-X"


def test_parse_missing_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["tlsrpt", "parse", str(tmp_path / "nope.json")])
    assert result.exit_code == 1
    assert "cannot read" in result.stderr


def _mock_dns(monkeypatch: pytest.MonkeyPatch, records: dict[tuple[str, str], Any]) -> None:
    def factory(*args: Any, **kwargs: Any) -> MockResolver:
        return MockResolver(records)

    monkeypatch.setattr(postel.dns.resolver, "DNSResolver", factory)


def test_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    _mock_dns(
        monkeypatch,
        {
            ("_smtp._tls.example.com", "TXT"): [
                '"v=TLSRPTv1; rua=mailto:a@example.com,https://r.example/x"'
            ]
        },
    )
    result = CliRunner().invoke(
        cli, ["tlsrpt", "lookup", "example.com", "--nameserver", "127.0.0.1"]
    )
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["rua"] == ["mailto:a@example.com", "https://r.example/x"]
    assert out["name"] == "_smtp._tls.example.com"


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (None, "no TLSRPT record"),
        (['"v=TLSRPTv1; rua=gopher://x"'], "unsupported URI scheme"),
        (TemporaryError("SERVFAIL"), "DNS lookup failed"),
    ],
)
def test_lookup_failures(monkeypatch: pytest.MonkeyPatch, value: Any, fragment: str) -> None:
    records = {} if value is None else {("_smtp._tls.example.com", "TXT"): value}
    _mock_dns(monkeypatch, records)
    result = CliRunner().invoke(cli, ["tlsrpt", "lookup", "example.com"])
    assert result.exit_code == 1
    assert fragment in result.stderr
