"""The SRV records the admin and quickstart publish (RFC 6186) agree with what is
served to mail apps: the public listeners' ports, "0 0 0 ." for a service only
an internal listener (or none) has."""

from __future__ import annotations

from pathlib import Path

from postel.config import Config, load_config
from postel.dnsrecords import client_records
from postel.hostkeys import write_key_and_cert
from postel.store.passwords import scrypt_hash

DOMAIN = "example.org"
HOST = "mail.example.org"
CERT = 'tls_cert_file = "host.crt"\ntls_key_file = "host.key"'


def config(tmp_path: Path, listeners: str) -> Config:
    write_key_and_cert(tmp_path / "host.key", tmp_path / "host.crt", [HOST])
    (tmp_path / "adminpasswd").write_text(scrypt_hash("unused") + "\n")
    (tmp_path / "postel.toml").write_text(
        f'hostname = "{HOST}"\npostmaster_account = "pm"\n{listeners}'
    )
    (tmp_path / "domains.toml").write_text(
        f'[domains."{DOMAIN}"]\n[accounts.pm]\ndomain = "{DOMAIN}"\naddresses = ["pm@{DOMAIN}"]\n'
    )
    return load_config(tmp_path)


def srv(cfg: Config) -> dict[str, str]:
    return {r.name: r.value for r in client_records(cfg, DOMAIN) if r.rtype == "SRV"}


def test_internal_imap_and_missing_submission_not_published(tmp_path: Path) -> None:
    cfg = config(
        tmp_path,
        f"""
[listeners.public]
{CERT}
smtp = {{ enabled = true }}
submission = {{ enabled = false }}
submissions = {{ enabled = false }}

[listeners.inside]
ips = ["127.0.0.1"]
internal = true
{CERT}
smtp = {{ enabled = false }}
submission = {{ enabled = false }}
submissions = {{ enabled = false, port = 1465 }}
imaps = {{ enabled = true, port = 1993 }}
""",
    )
    assert srv(cfg) == {
        f"_submissions._tcp.{DOMAIN}.": "0 0 0 .",
        f"_submission._tcp.{DOMAIN}.": "0 0 0 .",
        f"_imaps._tcp.{DOMAIN}.": "0 0 0 .",
        f"_imap._tcp.{DOMAIN}.": "0 0 0 .",
        f"_pop3s._tcp.{DOMAIN}.": "0 0 0 .",
    }


def test_listener_ports_published(tmp_path: Path) -> None:
    cfg = config(
        tmp_path,
        f"""
[listeners.public]
{CERT}
smtp = {{ enabled = true }}
submission = {{ enabled = true }}
submissions = {{ enabled = true, port = 10465 }}
imaps = {{ enabled = true }}
""",
    )
    assert srv(cfg) == {
        f"_submissions._tcp.{DOMAIN}.": f"0 1 10465 {HOST}.",
        f"_submission._tcp.{DOMAIN}.": f"1 1 587 {HOST}.",
        f"_imaps._tcp.{DOMAIN}.": f"0 1 993 {HOST}.",
        f"_imap._tcp.{DOMAIN}.": "0 0 0 .",
        f"_pop3s._tcp.{DOMAIN}.": "0 0 0 .",
    }


def web_only(name: str, web: str, *, ip: str = "", internal: bool = False) -> str:
    """A listener with only a web service."""
    return (
        f"[listeners.{name}]\n"
        + (f'ips = ["{ip}"]\n' if ip else "")
        + ("internal = true\n" if internal else "")
        + f"{CERT}\nsmtp = {{ enabled = false }}\nsubmission = {{ enabled = false }}\n"
        + f"submissions = {{ enabled = false }}\nweb = {{ {web} }}\n"
    )


PUBLIC_IMAPS = f"[listeners.public]\n{CERT}\nimaps = {{ enabled = true }}\n"


def test_autodiscover_srv_names_the_public_https_listener(tmp_path: Path) -> None:
    cfg = config(
        tmp_path,
        PUBLIC_IMAPS
        + "web = { enabled = true, port = 8443 }\n"
        + web_only("other", "enabled = true, port = 443", ip="192.0.2.10")
        + web_only("inside", "enabled = true, port = 444", ip="127.0.0.1", internal=True),
    )
    assert srv(cfg)[f"_autodiscover._tcp.{DOMAIN}."] == f"0 0 443 {HOST}."


def test_no_autodiscover_srv_without_a_public_https_listener(tmp_path: Path) -> None:
    cfg = config(
        tmp_path,
        PUBLIC_IMAPS
        + "web = { enabled = true, port = 80, tls = false }\n"
        + web_only("inside", "enabled = true, port = 8443", ip="127.0.0.1", internal=True),
    )
    assert f"_autodiscover._tcp.{DOMAIN}." not in srv(cfg)
