"""quickstart's certificates: the self-signed one covers every name the DNS
records point here; with --acme the host keys are made at once (TLSA records
printed) and postel.toml has [acme] and no certificate files."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from cryptography import x509

from postel.acme.storage import CertStore
from postel.cli.main import cli
from postel.config import load_config

NAMES = {"mx1.example.com", "mta-sts.example.com", "autoconfig.example.com"}


def run(tmp_path: Path, *extra: str) -> str:
    result = CliRunner().invoke(
        cli,
        ["quickstart", "you@example.com", "--hostname", "mx1.example.com", "--dir", str(tmp_path),
         *extra],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return result.output


def test_self_signed_certificate_covers_every_name(tmp_path: Path) -> None:
    out = run(tmp_path)
    cert = x509.load_pem_x509_certificate((tmp_path / "config/certs/host.crt").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.DNSName)) == NAMES
    assert "autoconfig.example.com" in out


def test_acme_quickstart(tmp_path: Path) -> None:
    out = run(tmp_path, "--acme-directory", "https://ca.test/dir")
    cfg = load_config(tmp_path / "config")
    assert cfg.static.acme.enabled and cfg.static.acme.directory_url == "https://ca.test/dir"
    assert cfg.static.acme.contact == "you@example.com"
    public = cfg.static.listeners["public"]
    assert public.tls_cert_file == "" and not (tmp_path / "config/certs").exists()
    store = CertStore(cfg.datadir.root)
    assert cfg.tls_pairs(public) == store.pairs()
    for _kind, digest, _next in store.tlsa_digests():
        assert f"_25._tcp.mx1.example.com. 300 IN TLSA 3 1 1 {digest}" in out
    leaf = store.chain("ecdsa")[0]  # self-signed until the CA's arrives
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.DNSName)) == NAMES
    assert "come from https://ca.test/dir" in out
    assert (
        CliRunner().invoke(cli, ["config", "test", "--config", str(tmp_path / "config")]).exit_code
        == 0
    )


def test_acme_flag_means_lets_encrypt(tmp_path: Path) -> None:
    run(tmp_path, "--acme")
    cfg = load_config(tmp_path / "config")
    assert cfg.static.acme.directory_url == "https://acme-v02.api.letsencrypt.org/directory"


def test_acme_rollover_and_status_commands(tmp_path: Path) -> None:
    run(tmp_path, "--acme-directory", "https://ca.test/dir")
    conf = str(tmp_path / "config")
    result = CliRunner().invoke(cli, ["acme", "rollover", "--config", conf, "--key", "rsa"])
    assert result.exit_code == 0, result.output
    store = CertStore(load_config(tmp_path / "config").datadir.root)
    assert store.pending_rollovers() == ["rsa"]
    [(_, upcoming, _)] = [d for d in store.tlsa_digests() if d[2]]
    assert f"TLSA 3 1 1 {upcoming}" in result.output
    status = CliRunner().invoke(cli, ["acme", "status", "--config", conf])
    assert status.exit_code == 0, status.output
    assert f"rsa (next): TLSA 3 1 1 {upcoming}" in status.output
    assert "ecdsa: self-signed, valid until" in status.output


def test_acme_commands_need_acme(tmp_path: Path) -> None:
    run(tmp_path)
    result = CliRunner().invoke(cli, ["acme", "status", "--config", str(tmp_path / "config")])
    assert result.exit_code == 1 and "[acme] is not enabled" in result.output
