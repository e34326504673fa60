"""A running SMTPService on 127.0.0.1 with ephemeral ports, a config made here,
a trustme certificate and a MockResolver for the SPF/DKIM/DMARC lookups."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import trustme
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from postel.config import Config, load_config
from postel.dns.mock import MockResolver
from postel.smtpserver import LocalSubmitter, SMTPService
from postel.store.credentials import Credentials
from postel.store.store import Store
from smtpclients import SMTPClients

HOSTNAME = "mail.example.org"
PASSWORD = "correct horse battery staple"
T = TypeVar("T")

STATIC = f"""
hostname = "{HOSTNAME}"
postmaster_account = "alice"

[host_tlsrpt]
localpart = "tls-reports"
account = "alice"
mailbox = "TLSRPT"

[limits]
max_message_size = 20000
max_recipients = 3
max_line_length = 1000
command_timeout = 20
connection_timeout = 60

[listeners.local]
ips = ["127.0.0.1"]
tls_cert_file = "cert.pem"
tls_key_file = "key.pem"
smtp = {{ port = 0 }}
submission = {{ port = 0 }}
submissions = {{ port = 0 }}
"""

DOMAINS = """
[domains."example.org"]
dkim.sign = ["s1"]
[domains."example.org".dkim.selectors.s1]
algorithm = "ed25519"
key_file = "dkim-s1.pem"
[domains."example.org".tlsrpt_reports]
localpart = "tlsrpt"
account = "alice"
mailbox = "TLSRPT"
[domains."example.org".dmarc_reports]
localpart = "dmarc"
account = "alice"
mailbox = "DMARC"
[domains."example.org".aliases]
team = ["alice@example.org", "bob@example.org"]

[accounts.alice]
domain = "example.org"
addresses = ["alice@example.org"]

[accounts.bob]
domain = "example.org"
addresses = ["bob@example.org"]
"""

# The sending domain of incoming test mail: SPF allows 127.0.0.1.
RECORDS: dict[tuple[str, str], list[str]] = {
    ("sender.test", "TXT"): ['"v=spf1 ip4:127.0.0.1 -all"'],
    ("sender.test", "MX"): ["10 mx.sender.test."],
    ("strict.test", "TXT"): ['"v=spf1 -all"'],
    ("_dmarc.strict.test", "TXT"): ['"v=DMARC1; p=reject"'],
    ("quarantine.test", "TXT"): ['"v=spf1 -all"'],
    ("_dmarc.quarantine.test", "TXT"): ['"v=DMARC1; p=quarantine"'],
}


@dataclass
class Env(SMTPClients):
    cfg: Config
    store: Store
    service: SMTPService
    resolver: MockResolver
    ca: trustme.CA
    ports: dict[str, int]

    def messages(self, account: str, mailbox: str = "Inbox") -> list[Any]:
        from postel.store.errors import StoreError

        try:
            return list(self.store.account(account).list_messages(mailbox))
        except StoreError:
            return []

    def message_bytes(self, account: str, msg: Any) -> bytes:
        return self.store.account(account).message_path(msg.msgid).read_bytes()


async def run(fn: Callable[[], T]) -> T:
    """Run blocking smtplib code beside the server's event loop."""
    return await asyncio.to_thread(fn)


def make_config(tmp: Path, ca: trustme.CA) -> Config:
    cert = ca.issue_cert(HOSTNAME, "127.0.0.1")
    cert.private_key_pem.write_to_path(str(tmp / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(tmp / "cert.pem"))
    key = ed25519.Ed25519PrivateKey.generate()
    (tmp / "dkim-s1.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (tmp / "postel.toml").write_text(STATIC)
    (tmp / "domains.toml").write_text(DOMAINS)
    return load_config(tmp)


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    ca = trustme.CA()
    cfg = make_config(tmp_path, ca)
    cfg.datadir.ensure()
    with Credentials(cfg.datadir.auth_db) as creds:
        creds.set_password("alice", PASSWORD)
        creds.set_password("bob", PASSWORD + "-bob")
    store = Store(cfg.datadir)
    resolver = MockResolver(dict(RECORDS))
    service = SMTPService(cfg, store, resolver, LocalSubmitter(cfg, store))
    service.ctx.auth_failure_delay = 0.01
    await service.start()
    ports = {kind: port for _ip, port, kind in service.bound}
    try:
        yield Env(cfg, store, service, resolver, ca, ports)
    finally:
        await service.stop()
        store.close()
