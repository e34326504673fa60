"""quickstart: a complete, valid configuration for one domain and account."""

from __future__ import annotations

import datetime as dt
import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from postel.acme.names import certificate_names
from postel.acme.storage import CertStore
from postel.config.model import LETSENCRYPT_STAGING_DIRECTORY
from postel.config.names import check_address, check_domain
from postel.errors import PostelError
from postel.fsutil import write_new
from postel.hostkeys import write_key_and_cert
from postel.passwords import generate_password
from postel.store.passwords import scrypt_hash


class QuickstartError(PostelError):
    pass


@dataclass
class QuickstartResult:
    config_dir: Path
    account: str
    address: str
    password: str
    admin_password: str


def _q(value: str) -> str:
    return json.dumps(value)


def write_dkim_keys(config_dir: Path, domain: str, year: int) -> list[tuple[str, str, str]]:
    """ed25519 and RSA-2048 keys; returns (selector, algorithm, key_file)."""
    out = []
    ed = ed25519.Ed25519PrivateKey.generate()
    rs = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for suffix, algo, key in (("a", "ed25519", ed), ("b", "rsa", rs)):
        selector = f"{year}{suffix}"
        rel = f"dkim/{domain}/{selector}.{algo}.pem"
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        write_new(config_dir / rel, pem)
        out.append((selector, algo, rel))
    return out


def acme_toml(directory: str, contact: str) -> str:
    return f"""
# Certificates from an ACME CA (RFC 8555) for this host and the mta-sts. and
# autoconfig. names of every domain, renewed with the same keys (DANE stays valid).
# Let's Encrypt's staging directory for trials: {LETSENCRYPT_STAGING_DIRECTORY}
[acme]
enabled = true
directory_url = {_q(directory)}
contact = {_q(contact)}
challenge = "tls-alpn-01"
"""


def static_toml(
    hostname: str,
    account: str,
    ips: list[str],
    *,
    localpart_tlsrpt: str = "tlsrpt",
    acme: str = "",
    user: str = "postel",
) -> str:
    """postel.toml; *acme* is its [acme] section (then the listener has no
    certificate files: the ACME-managed ones in the data dir serve)."""
    ip_list = ", ".join(_q(i) for i in ips)
    cert_lines = (
        "" if acme else 'tls_cert_file = "certs/host.crt"\ntls_key_file = "certs/host.key"\n'
    )
    return f"""# postel.toml: static configuration. `postel config describe` documents every field.
hostname = {_q(hostname)}
data_dir = "../data"
postmaster_account = {_q(account)}
postmaster_mailbox = "Postmaster"
admin_password_file = "adminpasswd"

# TLS reports about this host (DANE) arrive at {localpart_tlsrpt}@{hostname}.
[host_tlsrpt]
localpart = {_q(localpart_tlsrpt)}
account = {_q(account)}
mailbox = "TLSRPT"

# `postel serve` started as root binds its ports, then runs as this user.
[server]
user = {_q(user)}

[log]
level = "info"

[dns]
# Empty: the resolvers of /etc/resolv.conf. They must validate DNSSEC for DANE.
nameservers = []

[reports]
no_outgoing_tls_reports = false
outgoing_tls_reports_for_all_success = false

# Prometheus metrics and /healthz on loopback only (docs/metrics.md).
[metrics]
enabled = true
ip = "127.0.0.1"
port = 9433

[listeners.public]
ips = [{ip_list}]
{cert_lines}smtp = {{ enabled = true, port = 25 }}
submission = {{ enabled = true, port = 587 }}
submissions = {{ enabled = true, port = 465 }}
imap = {{ enabled = true, port = 143 }}
imaps = {{ enabled = true, port = 993 }}
web = {{ enabled = true, port = 443, tls = true, mtasts = true, webmail = true }}

[listeners.internal]
ips = ["127.0.0.1", "::1"]
internal = true
smtp = {{ enabled = false }}
submission = {{ enabled = false }}
submissions = {{ enabled = false }}
web = {{ enabled = true, port = 8080, tls = false, admin = true, webmail = true }}
{acme}"""


def domains_toml(
    domain: str,
    account: str,
    address: str,
    selectors: list[tuple[str, str, str]],
    policy_id: str,
    hostname: str,
) -> str:
    sel_lines = "\n".join(
        f"[domains.{_q(domain)}.dkim.selectors.{_q(s)}]\nalgorithm = {_q(a)}\nkey_file = {_q(k)}\n"
        for s, a, k in selectors
    )
    sign = ", ".join(_q(s) for s, _, _ in selectors)
    return f"""# domains.toml: hosted domains and accounts.
# `postel config describe domains` documents every field.

[domains.{_q(domain)}]
description = ""

[domains.{_q(domain)}.dkim]
sign = [{sign}]

{sel_lines}
[domains.{_q(domain)}.dmarc_reports]
localpart = "dmarc-reports"
account = {_q(account)}
mailbox = "DMARC"

[domains.{_q(domain)}.tlsrpt_reports]
localpart = "tls-reports"
account = {_q(account)}
mailbox = "TLSRPT"

[domains.{_q(domain)}.mta_sts]
policy_id = {_q(policy_id)}
mode = "enforce"
max_age = 86400
mx = [{_q(hostname)}]

[domains.{_q(domain)}.aliases]

[accounts.{_q(account)}]
domain = {_q(domain)}
addresses = [{_q(address)}]
"""


def account_name_for(address: str) -> str:
    local = address.rpartition("@")[0].lower()
    name = "".join(c if c.isalnum() or c in "._-" else "-" for c in local).strip("-.") or "mail"
    return name[:64]


def quickstart(
    config_dir: Path,
    address: str,
    hostname: str | None = None,
    ips: list[str] | None = None,
    password: str | None = None,
    acme_directory: str | None = None,
    user: str = "postel",
) -> QuickstartResult:
    """Write config_dir/{postel.toml,domains.toml}, keys and the account.

    With *acme_directory*, certificates come from that ACME CA once `postel
    serve` runs; the host keys are made here already, so the TLSA records can
    be published at once. Without, a self-signed certificate for every name
    the DNS records point here.

    Refuses to touch an existing configuration. The data directory is
    config_dir/../data.
    """
    address = check_address(address)
    domain = address.rpartition("@")[2]
    host = check_domain(hostname) if hostname else f"mail.{domain}"
    config_dir = Path(config_dir)
    for name in ("postel.toml", "domains.toml"):
        if (config_dir / name).exists():
            raise QuickstartError(f"{config_dir / name}: already exists, not overwriting")
    config_dir.mkdir(parents=True, exist_ok=True)
    account = account_name_for(address)
    year = dt.datetime.now(dt.UTC).year
    names = certificate_names(host, [domain])
    if acme_directory is None:
        write_key_and_cert(config_dir / "certs/host.key", config_dir / "certs/host.crt", names)
    selectors = write_dkim_keys(config_dir, domain, year)
    admin_password = generate_password()
    write_new(config_dir / "adminpasswd", (scrypt_hash(admin_password) + "\n").encode())
    policy_id = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S") + secrets.token_hex(2)
    policy_id = "".join(c for c in policy_id if c.isalnum())
    write_new(
        config_dir / "domains.toml",
        domains_toml(domain, account, address, selectors, policy_id, host).encode(),
        mode=0o644,
    )
    write_new(
        config_dir / "postel.toml",
        static_toml(
            host,
            account,
            ips or ["0.0.0.0", "::"],
            user=user,
            acme=acme_toml(acme_directory, address) if acme_directory is not None else "",
        ).encode(),
        mode=0o644,
    )
    from postel.config import load_config
    from postel.store.credentials import Credentials

    cfg = load_config(config_dir)
    cfg.datadir.ensure()
    if acme_directory is not None:
        CertStore(cfg.datadir.root).ensure(names)
    user_password = password or generate_password()
    creds = Credentials(cfg.datadir.auth_db)
    try:
        creds.set_password(account, user_password)
    finally:
        creds.close()
    return QuickstartResult(config_dir, account, address, user_password, admin_password)
