"""Configuration loading: every problem with file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from postel.cli.main import cli
from postel.config import ConfigError, load_config

STATIC = """hostname = "mail.example.com"
postmaster_account = "alice"

[listeners.public]
ips = ["127.0.0.1"]
smtp = { enabled = true, port = 2525 }
submission = { enabled = false }
submissions = { enabled = false }
"""

DOMAINS = """[domains."example.com"]
description = "test"

[accounts.alice]
domain = "example.com"
addresses = ["alice@example.com"]
"""


def write(d: Path, static: str = STATIC, domains: str = DOMAINS) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / "postel.toml").write_text(static)
    (d / "domains.toml").write_text(domains)
    return d


def test_valid_config_loads(tmp_path: Path) -> None:
    # The smtp port needs TLS files; give it a listener without TLS services.
    static = STATIC.replace("smtp = { enabled = true, port = 2525 }", "smtp = { enabled = false }")
    cfg = load_config(write(tmp_path, static))
    assert cfg.static.hostname == "mail.example.com"
    assert cfg.static.listeners["public"].ips == ["127.0.0.1"]
    assert cfg.domains.account_for_address("ALICE@example.com") == "alice"
    assert cfg.datadir.root == tmp_path.resolve() / "data"


def problems_of(d: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(d)
    return [str(p) for p in info.value.problems]


def test_errors_name_file_line_and_field(tmp_path: Path) -> None:
    static = STATIC.replace("port = 2525", "port = 99999")
    domains = DOMAINS.replace('addresses = ["alice@example.com"]', 'addresses = ["alice"]')
    probs = problems_of(write(tmp_path, static, domains))
    static_file = str(tmp_path.resolve() / "postel.toml")
    domains_file = str(tmp_path.resolve() / "domains.toml")
    assert any(
        p.startswith(f"{static_file}:6: listeners.public.smtp.port:") and "65535" in p
        for p in probs
    ), probs
    assert any(
        p.startswith(f"{domains_file}:6: accounts.alice.addresses:") and "no @" in p for p in probs
    ), probs


def test_unknown_field_reported_with_line(tmp_path: Path) -> None:
    static = STATIC + '\n[dns]\nnameserver = ["1.1.1.1"]\n'
    probs = problems_of(write(tmp_path, static))
    assert any(":11: dns.nameserver: unknown field" in p for p in probs), probs


def test_toml_syntax_error_has_line(tmp_path: Path) -> None:
    static = STATIC + "\nbroken = = 1\n"
    probs = problems_of(write(tmp_path, static))
    assert len(probs) == 1
    assert ":10:" in probs[0] and "TOML syntax error" in probs[0]


def test_missing_file(tmp_path: Path) -> None:
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "postel.toml").write_text(STATIC)
    probs = problems_of(tmp_path)
    assert probs == [f"{tmp_path.resolve() / 'domains.toml'}: file not found"]


def test_cross_checks(tmp_path: Path) -> None:
    static = STATIC.replace('postmaster_account = "alice"', 'postmaster_account = "bob"')
    probs = problems_of(write(tmp_path, static))
    assert any(":2: postmaster_account: unknown account 'bob'" in p for p in probs), probs
    # smtp is enabled without certificate files
    assert any("listeners.public.tls_cert_file: required for TLS" in p for p in probs), probs


def test_account_with_unconfigured_domain(tmp_path: Path) -> None:
    domains = DOMAINS + (
        '\n[accounts.bob]\ndomain = "other.example"\naddresses = ["b@other.example"]\n'
    )
    probs = problems_of(write(tmp_path, domains=domains))
    assert any("domain 'other.example' is not configured" in p for p in probs), probs


def test_duplicate_address_rejected(tmp_path: Path) -> None:
    domains = DOMAINS + (
        '\n[accounts.bob]\ndomain = "example.com"\naddresses = ["Alice@example.com"]\n'
    )
    probs = problems_of(write(tmp_path, domains=domains))
    assert any("is in accounts 'alice' and 'bob'" in p for p in probs), probs


def test_idn_domain_normalised(tmp_path: Path) -> None:
    domains = DOMAINS + '\n[domains."bücher.example"]\n'
    static = STATIC.replace("smtp = { enabled = true, port = 2525 }", "smtp = { enabled = false }")
    cfg = load_config(write(tmp_path, static, domains))
    assert "xn--bcher-kva.example" in cfg.domains.domains


def test_cli_config_test_reports_every_problem(tmp_path: Path) -> None:
    static = STATIC.replace("port = 2525", "port = -1").replace(
        'hostname = "mail.example.com"', 'hostname = "bad_host!"'
    )
    write(tmp_path, static)
    result = CliRunner().invoke(cli, ["config", "test", "--config", str(tmp_path)])
    assert result.exit_code == 1
    assert "postel.toml:1: hostname:" in result.output
    assert "postel.toml:6: listeners.public.smtp.port:" in result.output


def test_cli_describe_documents_defaults() -> None:
    result = CliRunner().invoke(cli, ["config", "describe"])
    assert result.exit_code == 0
    assert "[listeners.NAME.submission]" in result.output
    assert "port = 587" in result.output
    assert "no_outgoing_tls_reports = false" in result.output
    result = CliRunner().invoke(cli, ["config", "describe", "domains"])
    assert "[accounts.NAME]" in result.output
