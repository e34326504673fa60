"""Suggested DNS records with ACME: TLSA of both host keys (and of a next key
during a rollover), CAA naming the CA, account and challenge (RFC 8657)."""

from __future__ import annotations

from pathlib import Path

from postel.acme.storage import CertStore
from postel.config import Config, load_config
from postel.dnsrecords import caa_records, host_records

STATIC = """
hostname = "mail.example.org"
postmaster_account = "pm"

[listeners.main]
ips = ["127.0.0.1"]
{web}

[acme]
enabled = true
directory_url = "{directory}"
challenge = "tls-alpn-01"
"""

DOMAINS = """
[domains."example.org"]

[accounts.pm]
domain = "example.org"
addresses = ["pm@example.org"]
"""


def config(tmp: Path, directory: str) -> Config:
    web = "web = { enabled = true, port = 443 }"
    (tmp / "postel.toml").write_text(STATIC.format(directory=directory, web=web))
    (tmp / "domains.toml").write_text(DOMAINS)
    return load_config(tmp)


def tlsa(cfg: Config) -> list[str]:
    return [r.value for r in host_records(cfg) if r.rtype == "TLSA"]


def test_config_with_acme_needs_no_certificate_files(tmp_path: Path) -> None:
    cfg = config(tmp_path, "https://ca.test/dir")
    assert cfg.tls_pairs(cfg.static.listeners["main"]) == CertStore(cfg.datadir.root).pairs()


def test_tlsa_of_both_keys_and_of_the_next_key(tmp_path: Path) -> None:
    cfg = config(tmp_path, "https://ca.test/dir")
    store = CertStore(cfg.datadir.root)
    store.ensure(["mail.example.org"])
    digests = [d for _, d, _ in store.tlsa_digests()]
    assert tlsa(cfg) == [f"3 1 1 {d}" for d in digests] and len(digests) == 2
    # A renewal (new certificate, same key) does not change them.
    store.cert_file("ecdsa").unlink()
    store.ensure(["mail.example.org", "mta-sts.example.org"])
    assert tlsa(cfg) == [f"3 1 1 {d}" for d in digests]
    store.start_rollover("rsa")
    records = [r for r in host_records(cfg) if r.rtype == "TLSA"]
    assert len(records) == 3 and "NEXT RSA host key" in records[2].comment


def test_caa_names_ca_account_and_method(tmp_path: Path) -> None:
    cfg = config(tmp_path, "https://ca.test/dir")
    [unknown] = caa_records(cfg.static.acme, CertStore(cfg.datadir.root), "example.org")
    assert unknown.commented_out  # the CA's CAA domain is not known yet
    CertStore(cfg.datadir.root).save_account(
        "https://ca.test/dir", "https://ca.test/acct/7", ["ca.test"]
    )
    [rec] = caa_records(cfg.static.acme, CertStore(cfg.datadir.root), "example.org")
    assert (
        rec.value
        == '0 issue "ca.test; accounturi=https://ca.test/acct/7; validationmethods=tls-alpn-01"'
    )
    assert not rec.commented_out


def test_caa_lets_encrypt_before_registration(tmp_path: Path) -> None:
    cfg = config(tmp_path, "https://acme-v02.api.letsencrypt.org/directory")
    [rec] = caa_records(cfg.static.acme, CertStore(cfg.datadir.root), "example.org")
    assert rec.value == '0 issue "letsencrypt.org; validationmethods=tls-alpn-01"'


def test_config_checks_the_challenge_can_be_answered(tmp_path: Path) -> None:
    import pytest

    from postel.config import ConfigError

    (tmp_path / "domains.toml").write_text(DOMAINS)
    base = STATIC.format(directory="https://ca.test/dir", web="")
    (tmp_path / "postel.toml").write_text(base)  # no HTTPS listener
    with pytest.raises(ConfigError, match="tls-alpn-01 is answered on an HTTPS web listener"):
        load_config(tmp_path)
    (tmp_path / "postel.toml").write_text(
        base.replace('challenge = "tls-alpn-01"', 'challenge = "http-01"')
    )
    with pytest.raises(ConfigError, match="http-01 needs http01_port"):
        load_config(tmp_path)
    (tmp_path / "postel.toml").write_text(
        base.replace('challenge = "tls-alpn-01"', 'challenge = "http-01"\nhttp01_port = 80')
        + 'eab_kid = "k"\neab_hmac_key_file = "missing.key"\n'
    )
    with pytest.raises(ConfigError, match=r"missing\.key"):
        load_config(tmp_path)


def test_config_refuses_http01_on_an_https_web_port(tmp_path: Path) -> None:
    import pytest

    from postel.acme.names import http01_responder_ips
    from postel.config import ConfigError

    (tmp_path / "domains.toml").write_text(DOMAINS)
    static = STATIC.format(
        directory="https://ca.test/dir", web="web = { enabled = true, port = 80, tls = true }"
    ).replace('challenge = "tls-alpn-01"', 'challenge = "http-01"\nhttp01_port = 80')
    (tmp_path / "postel.toml").write_text(static)
    with pytest.raises(ConfigError, match="port 80 is the HTTPS web port of listener 'main'"):
        load_config(tmp_path)
    # A plain-HTTP web listener on the http-01 port answers the tokens itself:
    # no responder of its own on that listener's addresses.
    (tmp_path / "postel.toml").write_text(static.replace("tls = true", "tls = false"))
    cfg = load_config(tmp_path)
    assert http01_responder_ips(cfg.static) == []
