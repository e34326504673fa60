"""quickstart: complete output and a configuration that passes `config test`."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from postel.cli.main import cli
from postel.config import load_config
from postel.hostkeys import cert_file_spki_sha256
from postel.store.credentials import Credentials
from postel.store.passwords import scrypt_verify


def test_quickstart_writes_valid_config_and_prints_records(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        cli,
        ["quickstart", "you@example.com", "--hostname", "mx1.example.com", "--dir", str(tmp_path)],
    )
    assert result.exit_code == 0, result.output
    out = result.output

    cfg = load_config(tmp_path / "config")
    assert cfg.static.hostname == "mx1.example.com"
    assert cfg.domains.account_for_address("you@example.com") == "you"
    # Both DKIM keys, signing with both.
    dkim = cfg.domains.domains["example.com"].dkim
    assert sorted(s.algorithm for s in dkim.selectors.values()) == ["ed25519", "rsa"]
    assert sorted(dkim.sign) == sorted(dkim.selectors)

    password = re.search(r"password: (\S+)", out)
    assert password is not None
    creds = Credentials(cfg.datadir.auth_db)
    assert creds.verify("you", password.group(1))
    assert not creds.verify("you", password.group(1) + "x")
    creds.close()
    admin = re.search(r"Admin password.*\n\s+(\S+)", out)
    assert admin is not None
    assert scrypt_verify(admin.group(1), (tmp_path / "config/adminpasswd").read_text().strip())

    spki = cert_file_spki_sha256(tmp_path / "config/certs/host.crt")
    expected = [
        f"_25._tcp.mx1.example.com. 300 IN TLSA 3 1 1 {spki}",
        "example.com. 300 IN MX 10 mx1.example.com.",
        'example.com. 300 IN TXT "v=spf1 mx -all"',
        '_dmarc.example.com. 300 IN TXT "v=DMARC1; p=reject; rua=mailto:dmarc-reports@example.com"',
        "mta-sts.example.com. 300 IN CNAME mx1.example.com.",
        '_smtp._tls.example.com. 300 IN TXT "v=TLSRPTv1; rua=mailto:tls-reports@example.com"',
        '_smtp._tls.mx1.example.com. 300 IN TXT "v=TLSRPTv1; rua=mailto:tlsrpt@mx1.example.com"',
    ]
    for line in expected:
        assert line in out, line
    assert re.search(r'_mta-sts\.example\.com\. 300 IN TXT "v=STSv1; id=[A-Za-z0-9]{1,32}"', out)
    for sel in dkim.sign:
        assert f"{sel}._domainkey.example.com. 300 IN TXT" in out
    assert "k=ed25519; p=" in out and "k=rsa; p=" in out

    test = runner.invoke(cli, ["config", "test", "--config", str(tmp_path / "config")])
    assert test.exit_code == 0, test.output
    assert "OK (1 domains, 1 accounts, 2 listeners)" in test.output


def test_quickstart_refuses_to_overwrite(tmp_path: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(cli, ["quickstart", "a@example.org", "--dir", str(tmp_path)])
    assert first.exit_code == 0, first.output
    before = (tmp_path / "config/domains.toml").read_text()
    second = runner.invoke(cli, ["quickstart", "b@example.org", "--dir", str(tmp_path)])
    assert second.exit_code == 1
    assert "already exists, not overwriting" in second.output
    assert (tmp_path / "config/domains.toml").read_text() == before


def test_quickstart_rejects_bad_address(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["quickstart", "not-an-address", "--dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "no @" in result.output
    assert not (tmp_path / "config").exists()
