"""A running postel SMTPService on a test-network address, for tests with real peers.

The certificate comes from ``testnet.ca`` so Postfix can verify it; DNS lookups
(SPF, DMARC of senders) go to the test network's validating resolver.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from serverthread import serving
from storagebackend import Backend

from postel.config import Config, load_config
from postel.dns.resolver import DNSResolver
from postel.imapserver.storeapi import MailStore
from postel.smtpserver import LocalSubmitter, SMTPService
from postel.store.store import Store

HOSTNAME = "mail.postel.test"
DOMAIN = "postel.test"

STATIC = """
hostname = "{hostname}"
postmaster_account = "alice"

[host_tlsrpt]
localpart = "tls-reports"
account = "alice"
mailbox = "TLSRPT"

[listeners.test]
ips = ["{ip}"]
tls_cert_file = "cert.pem"
tls_key_file = "key.pem"
smtp = {{ port = {port} }}
submission = {{ enabled = false }}
submissions = {{ enabled = false }}
"""

DOMAINS = """
[domains."{domain}"]
[domains."{domain}".tlsrpt_reports]
localpart = "tlsrpt"
account = "alice"
mailbox = "TLSRPT"
[domains."{domain}".dmarc_reports]
localpart = "dmarc"
account = "alice"
mailbox = "DMARC"

[accounts.alice]
domain = "{domain}"
addresses = ["alice@{domain}"]
"""


@dataclass
class PostelEnv:
    cfg: Config
    store: Store | None  # the SQLite store (None on PostgreSQL)
    service: SMTPService | None  # the SMTP service alone (None: the whole server runs)
    ip: str
    port: int
    alice: MailStore | None = None  # on PostgreSQL: the account, read beside the server

    def messages(self, mailbox: str, account: str = "alice") -> list[Any]:
        from postel.store.errors import StoreError

        try:
            if self.store is None:
                assert self.alice is not None and account == "alice"
                return list(self.alice.page(mailbox, 0, 1000))
            return list(self.store.account(account).list_messages(mailbox, limit=1000))
        except StoreError:
            return []

    def message_bytes(self, msg: Any, account: str = "alice") -> bytes:
        if self.store is None:
            assert self.alice is not None and account == "alice"
            with self.alice.open_message(msg.msgid) as f:
                return f.read()
        data: bytes = self.store.account(account).message_path(msg.msgid).read_bytes()
        return data


def write_config(root: Path, testnet: Any, ip: str, port: int = 25) -> Config:
    cert = testnet.ca.issue_cert(HOSTNAME, ip)
    cert.private_key_pem.write_to_path(str(root / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(root / "cert.pem"))
    (root / "postel.toml").write_text(STATIC.format(hostname=HOSTNAME, ip=ip, port=port))
    (root / "domains.toml").write_text(DOMAINS.format(domain=DOMAIN))
    return load_config(root)


@contextlib.asynccontextmanager
async def running_postel(
    root: Path, testnet: Any, ip: str, port: int = 25, backend: Backend | None = None
) -> AsyncIterator[PostelEnv]:
    """The SMTP service on SQLite; on PostgreSQL (*backend*) the whole server
    (postel.server.run in a thread of its own, as `postel serve`), the account
    alice made in the database first."""
    if backend is not None and backend.is_pg:
        write_config(root, testnet, ip, port)
        backend.configure(root, {"alice": "a password of alice"})
        cfg = load_config(root)
        with backend.mailstore(root, "alice") as alice, serving(cfg) as running:
            bound = [p for _ip, p, kind in running.bound if kind == "smtp"]
            yield PostelEnv(cfg, None, None, ip, bound[0], alice)
        return
    cfg = write_config(root, testnet, ip, port)
    cfg.datadir.ensure()
    store = Store(cfg.datadir)
    resolver = DNSResolver([testnet.resolver_ip], timeout=5.0)
    service = SMTPService(cfg, store, resolver, LocalSubmitter(cfg, store))
    await service.start()
    try:
        bound = [p for _ip, p, kind in service.bound if kind == "smtp"]
        yield PostelEnv(cfg, store, service, ip, bound[0])
    finally:
        await service.stop()
        store.close()
