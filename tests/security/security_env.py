"""A running SMTPService for the security tests: 127.0.0.1, ephemeral ports, a
trustme certificate, a MockResolver and a recording submitter (so that any
message the server would relay or forward is seen)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import trustme

from postel.config import Config, load_config
from postel.dns.mock import MockResolver
from postel.smtpserver import SMTPService
from postel.store.credentials import Credentials
from postel.store.store import Store
from smtpclients import SMTPClients

HOSTNAME = "mail.example.org"
PASSWORD = "Sekrit-pass-7f3a9c1e"  # distinctive, so it can be searched for in logs
BOB_PASSWORD = "Bobs-pass-0d4e8b22"
ADMIN_PASSWORD = "Admin-pass-5b71e0c4"
IDN_DOMAIN = "xn--bcher-kva.example"  # bücher.example
FORWARD_TARGET = "friend@elsewhere.example"
T = TypeVar("T")

STATIC = f"""
hostname = "{HOSTNAME}"
postmaster_account = "alice"

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

DOMAINS = f"""
[domains."example.org".aliases]
team = ["alice@example.org", "bob@example.org"]
outside = ["{FORWARD_TARGET}"]

[domains."{IDN_DOMAIN}"]

[accounts.alice]
domain = "example.org"
addresses = ["alice@example.org", "alice@{IDN_DOMAIN}"]

[accounts.bob]
domain = "example.org"
addresses = ["bob@example.org"]
"""


@dataclass
class Submitted:
    account: str
    mail_from: str
    rcpts: list[str]


@dataclass
class RecordingSubmitter:
    """Records every hand-off (submission or alias forward); delivers nothing."""

    calls: list[Submitted] = field(default_factory=list)

    async def __call__(
        self, account: str, mail_from: str, rcpts: list[str], path: Path, requiretls: bool
    ) -> None:
        self.calls.append(Submitted(account, mail_from, list(rcpts)))


@dataclass
class Env(SMTPClients):
    cfg: Config
    store: Store
    service: SMTPService
    submitter: RecordingSubmitter
    ca: trustme.CA
    ports: dict[str, int]

    def delivered(self, account: str, mailbox: str = "Inbox") -> list[Any]:
        from postel.store.errors import StoreError

        try:
            return list(self.store.account(account).list_messages(mailbox))
        except StoreError:
            return []


async def run(fn: Callable[[], T]) -> T:
    """Run blocking smtplib code beside the server's event loop."""
    return await asyncio.to_thread(fn)


def make_config(tmp: Path, ca: trustme.CA) -> Config:
    cert = ca.issue_cert(HOSTNAME, "127.0.0.1")
    cert.private_key_pem.write_to_path(str(tmp / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(tmp / "cert.pem"))
    from postel.store.passwords import scrypt_hash

    (tmp / "adminpasswd").write_text(scrypt_hash(ADMIN_PASSWORD) + "\n")
    (tmp / "postel.toml").write_text(STATIC)
    (tmp / "domains.toml").write_text(DOMAINS)
    return load_config(tmp)


@pytest.fixture
async def smtp_env(tmp_path: Path) -> AsyncIterator[Env]:
    ca = trustme.CA()
    cfg = make_config(tmp_path, ca)
    cfg.datadir.ensure()
    with Credentials(cfg.datadir.auth_db) as creds:
        creds.set_password("alice", PASSWORD)
        creds.set_password("bob", BOB_PASSWORD)
    store = Store(cfg.datadir)
    submitter = RecordingSubmitter()
    service = SMTPService(cfg, store, MockResolver({}), submitter, dns_cache_seconds=0)
    service.ctx.auth_failure_delay = 0.01
    service.ctx.verify_timeout = 5
    await service.start()
    ports = {kind: port for _ip, port, kind in service.bound}
    try:
        yield Env(cfg, store, service, submitter, ca, ports)
    finally:
        await service.stop()
        store.close()
