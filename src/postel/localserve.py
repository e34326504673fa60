"""localserve: a ready instance on loopback for trying postel and testing apps.

Everything lives in one directory (config/ and data/). Mail never leaves the
machine: delivery is local-only. Ports are the standard ones plus 1000 so no
privileges are needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from postel.fsutil import write_new
from postel.hostkeys import write_key_and_cert
from postel.store.passwords import scrypt_hash

DOMAIN = "postel.localhost"
HOSTNAME = "mail.postel.localhost"
ACCOUNT = "you"
ADDRESS = f"you@{DOMAIN}"
PASSWORD = "postelpostel"
PORTS = {
    "smtp": 1025,
    "submission": 1587,
    "submissions": 1465,
    "imap": 1143,
    "imaps": 1993,
    "web": 1080,
}


@dataclass(frozen=True)
class LocalInfo:
    config_dir: Path
    ip: str = "127.0.0.1"


def static_toml(ip: str) -> str:
    return f"""# localserve configuration: loopback only, mail never leaves this machine.
hostname = "{HOSTNAME}"
data_dir = "../data"
postmaster_account = "{ACCOUNT}"
admin_password_file = "adminpasswd"

[host_tlsrpt]
localpart = "tlsrpt"
account = "{ACCOUNT}"

[log]
level = "info"

[delivery]
local_only = true

[listeners.local]
ips = ["{ip}"]
internal = true
tls_cert_file = "certs/localhost.crt"
tls_key_file = "certs/localhost.key"
smtp = {{ enabled = true, port = {PORTS["smtp"]} }}
submission = {{ enabled = true, port = {PORTS["submission"]} }}
submissions = {{ enabled = true, port = {PORTS["submissions"]} }}
imap = {{ enabled = true, port = {PORTS["imap"]} }}
imaps = {{ enabled = true, port = {PORTS["imaps"]} }}
web = {{ enabled = true, port = {PORTS["web"]}, tls = false, admin = true, webmail = true, \
mtasts = true }}
"""


DOMAINS_TOML = f"""# localserve domains: one domain, one account.
[domains."{DOMAIN}"]
description = "localserve"

[domains."{DOMAIN}".dmarc_reports]
localpart = "dmarc-reports"
account = "{ACCOUNT}"
mailbox = "DMARC"

[domains."{DOMAIN}".tlsrpt_reports]
localpart = "tls-reports"
account = "{ACCOUNT}"
mailbox = "TLSRPT"

[accounts.{ACCOUNT}]
domain = "{DOMAIN}"
addresses = ["{ADDRESS}"]
"""


def ensure_local_config(base: Path, ip: str = "127.0.0.1") -> LocalInfo:
    """Create base/config (and the account) on first use; keep it afterwards."""
    config_dir = base / "config"
    if not (config_dir / "postel.toml").exists():
        config_dir.mkdir(parents=True, exist_ok=True)
        key, cert = config_dir / "certs/localhost.key", config_dir / "certs/localhost.crt"
        if not key.exists():
            write_key_and_cert(key, cert, ["localhost", HOSTNAME, "127.0.0.1", "::1"])
        if not (config_dir / "adminpasswd").exists():
            write_new(config_dir / "adminpasswd", (scrypt_hash(PASSWORD) + "\n").encode())
        write_new(config_dir / "domains.toml", DOMAINS_TOML.encode(), mode=0o644)
        write_new(config_dir / "postel.toml", static_toml(ip).encode(), mode=0o644)
        from postel.config import load_config
        from postel.store.credentials import Credentials

        cfg = load_config(config_dir)
        cfg.datadir.ensure()
        creds = Credentials(cfg.datadir.auth_db)
        try:
            creds.set_password(ACCOUNT, PASSWORD)
        finally:
            creds.close()
    return LocalInfo(config_dir, ip)


def instructions(bound: list[tuple[str, int, str]]) -> str:
    ports = {kind: (ip, port) for ip, port, kind in bound}
    lines = [
        "postel localserve is running; mail never leaves this machine.",
        f"Account: {ADDRESS}  password: {PASSWORD}  (also the admin password)",
    ]
    for kind, label in (
        ("smtp", "SMTP (incoming, STARTTLS)"),
        ("submission", "Submission (STARTTLS + AUTH)"),
        ("submissions", "Submission (implicit TLS + AUTH)"),
        ("imaps", "IMAP (implicit TLS)"),
        ("imap", "IMAP (STARTTLS)"),
    ):
        if kind in ports:
            ip, port = ports[kind]
            lines.append(f"  {label:34} {ip} port {port}")
    for kind, label in (("admin", "Admin"), ("webmail", "Webmail")):
        if kind in ports:
            ip, port = ports[kind]
            lines.append(f"  {label:34} http://{ip}:{port}/{kind}/")
    if "metrics" in ports:
        ip, port = ports["metrics"]
        host = f"[{ip}]" if ":" in ip else ip
        lines.append(f"  {'Metrics (Prometheus)':34} http://{host}:{port}/metrics")
    lines.append("The TLS certificate is self-signed: tell your client to accept it.")
    lines.append("Stop with Ctrl-C.")
    return "\n".join(lines)
