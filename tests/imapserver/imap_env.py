"""A running IMAPService on 127.0.0.1 with ephemeral ports, a config made here,
a trustme certificate and two accounts with passwords."""

from __future__ import annotations

import asyncio
import imaplib
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest
import trustme

from postel.config import Config, load_config
from postel.imapserver import IMAPService
from postel.store.credentials import Credentials
from postel.store.store import Store

HOSTNAME = "mail.example.org"
PASSWORD = "correct horse battery staple"
T = TypeVar("T")

STATIC = f"""
hostname = "{HOSTNAME}"
postmaster_account = "alice"

[limits]
max_message_size = 200000
connection_limit_exempt = []

[imap]
max_line_length = 1000
unauthenticated_timeout = 1
recheck_interval = 0.2
max_connections_per_ip = 4
max_connections_per_account = 3

[login_limit]
free_per_client_account = 2
first_delay = 30

[listeners.local]
ips = ["127.0.0.1"]
tls_cert_file = "cert.pem"
tls_key_file = "key.pem"
smtp = {{ enabled = false }}
submission = {{ enabled = false }}
submissions = {{ enabled = false }}
imap = {{ enabled = true, port = 0 }}
imaps = {{ enabled = true, port = 0 }}
"""

DOMAINS = """
[domains."example.org"]

[accounts.alice]
domain = "example.org"
addresses = ["alice@example.org"]

[accounts.bob]
domain = "example.org"
addresses = ["bob@example.org"]
"""

MESSAGE = (
    b"From: Bob <bob@example.org>\r\n"
    b"To: alice@example.org\r\n"
    b"Subject: hello there\r\n"
    b"Date: Mon, 7 Dec 2026 10:00:00 +0000\r\n"
    b"Message-ID: <m1@example.org>\r\n"
    b"\r\n"
    b"Hi Alice,\r\nhow are you?\r\n"
)


@dataclass
class Env:
    cfg: Config
    store: Store
    service: IMAPService
    ca: trustme.CA
    ports: dict[str, int]

    def client_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        self.ca.configure_trust(ctx)
        return ctx

    def imaps(self) -> imaplib.IMAP4_SSL:
        return imaplib.IMAP4_SSL(
            "127.0.0.1", self.ports["imaps"], ssl_context=self.client_context(), timeout=10
        )

    def imap(self) -> imaplib.IMAP4:
        return imaplib.IMAP4("127.0.0.1", self.ports["imap"], timeout=10)

    def login(self, account: str = "alice") -> imaplib.IMAP4_SSL:
        c = self.imaps()
        c.login(account, PASSWORD)
        return c

    def deliver(self, data: bytes = MESSAGE, mailbox: str = "Inbox", account: str = "alice") -> int:
        return self.store.account(account).deliver_bytes(mailbox, data).uid


class Raw:
    """A line-level client for exact protocol exchanges."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.file = sock.makefile("rb")
        self.greeting = self.line()

    def line(self) -> bytes:
        data = self.file.readline(100_000)
        if not data:
            raise EOFError("connection closed")
        return data

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def cmd(self, line: bytes) -> list[bytes]:
        """Send a command; the lines up to and including its tagged response."""
        tag = line.split(b" ", 1)[0]
        self.send(line + b"\r\n")
        return self.until(tag)

    def until(self, tag: bytes) -> list[bytes]:
        out = []
        while True:
            data = self.line()
            out.append(data)
            if data.startswith(tag + b" "):
                return out

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def raw_plain(env: Env) -> Raw:
    return Raw(socket.create_connection(("127.0.0.1", env.ports["imap"]), timeout=10))


def raw_tls(env: Env, login: bool = True) -> Raw:
    sock = socket.create_connection(("127.0.0.1", env.ports["imaps"]), timeout=10)
    r = Raw(env.client_context().wrap_socket(sock, server_hostname=HOSTNAME))
    if login:
        assert b"OK" in r.cmd(b'L LOGIN alice "' + PASSWORD.encode() + b'"')[-1]
    return r


async def run(fn: Callable[[], T]) -> T:
    """Run blocking client code beside the server's event loop."""
    return await asyncio.to_thread(fn)


def make_config(tmp: Path, ca: trustme.CA, static: str = STATIC) -> Config:
    cert = ca.issue_cert(HOSTNAME, "127.0.0.1")
    cert.private_key_pem.write_to_path(str(tmp / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(tmp / "cert.pem"))
    (tmp / "postel.toml").write_text(static)
    (tmp / "domains.toml").write_text(DOMAINS)
    return load_config(tmp)


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async for e in env_with(tmp_path, STATIC):
        yield e


async def env_with(tmp_path: Path, static: str) -> AsyncIterator[Env]:
    """A running service with the config *static* (postel.toml)."""
    ca = trustme.CA()
    cfg = make_config(tmp_path, ca, static)
    cfg.datadir.ensure()
    with Credentials(cfg.datadir.auth_db) as creds:
        creds.set_password("alice", PASSWORD)
        creds.set_password("bob", PASSWORD)
    store = Store(cfg.datadir)
    service = IMAPService(cfg, store)
    await service.start()
    ports = {kind: port for _ip, port, kind in service.bound}
    try:
        yield Env(cfg, store, service, ca, ports)
    finally:
        await service.stop()
        store.close()
