"""Peers for the delivery integration tests: postel's own SMTPService (announces
REQUIRETLS), a plain aiosmtpd server with STARTTLS but without REQUIRETLS, and the
session's private Postfix (postfixpeer) receiving one domain into a Maildir."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import smtplib
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trustme
from aiosmtpd.smtp import SMTP as AioSMTP
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from postfixpeer import PostfixPeer

from postel.config import Config, load_config
from postel.dns.mock import MockResolver
from postel.smtpserver import LocalSubmitter, SMTPService
from postel.store.store import Store

PORT = 2525


@dataclass
class CertFiles:
    cert: Path  # leaf + issuing CA
    key: Path
    leaf_der: bytes
    ca_der: bytes

    def spki_sha256(self) -> str:
        cert = x509.load_der_x509_certificate(self.leaf_der)
        spki = cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return hashlib.sha256(spki).hexdigest()

    def ca_sha256(self) -> str:
        return hashlib.sha256(self.ca_der).hexdigest()

    def ca_spki_sha256(self) -> str:
        cert = x509.load_der_x509_certificate(self.ca_der)
        spki = cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return hashlib.sha256(spki).hexdigest()


def issue(ca: trustme.CA, host: str, directory: Path, name: str | None = None) -> CertFiles:
    """A certificate for *name* (default *host*) from *ca*, chain file with the CA."""
    directory.mkdir(parents=True, exist_ok=True)
    leaf = ca.issue_cert(name or host)
    cert = directory / "cert.pem"
    key = directory / "key.pem"
    cert.write_bytes(leaf.cert_chain_pems[0].bytes() + ca.cert_pem.bytes())
    leaf.private_key_pem.write_to_path(str(key))
    leaf_der = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes()).public_bytes(
        serialization.Encoding.DER
    )
    ca_der = x509.load_pem_x509_certificate(ca.cert_pem.bytes()).public_bytes(
        serialization.Encoding.DER
    )
    return CertFiles(cert, key, leaf_der, ca_der)


def peer_config(directory: Path, host: str, ip: str, domain: str, certs: CertFiles) -> Config:
    (directory / "postel.toml").write_text(
        f"""
hostname = "{host}"
postmaster_account = "rcpt"
[listeners.mx]
ips = ["{ip}"]
tls_cert_file = "{certs.cert}"
tls_key_file = "{certs.key}"
smtp = {{ port = {PORT} }}
submission = {{ enabled = false }}
submissions = {{ enabled = false }}
"""
    )
    (directory / "domains.toml").write_text(
        f"""
[domains."{domain}"]
[accounts.rcpt]
domain = "{domain}"
addresses = ["user@{domain}", "other@{domain}"]
"""
    )
    return load_config(directory)


class PostelPeer:
    """postel's SMTPService as the receiving MX."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        cfg.datadir.ensure()
        self.store = Store(cfg.datadir)
        submitter = LocalSubmitter(cfg, self.store)
        self.service = SMTPService(cfg, self.store, MockResolver({}), submitter)

    async def start(self) -> None:
        await self.service.start()

    async def stop(self) -> None:
        await self.service.stop()
        self.store.close()

    def inbox(self) -> list[Any]:
        return list(self.store.account("rcpt").list_messages("Inbox"))


class _Handler:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes, list[str]]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(
            (envelope.mail_from, list(envelope.rcpt_tos), envelope.content, envelope.mail_options)
        )
        return "250 2.0.0 OK"


class PlainPeer:
    """aiosmtpd with STARTTLS, no REQUIRETLS extension."""

    def __init__(self, ip: str, host: str, certs: CertFiles) -> None:
        self.ip, self.host = ip, host
        self.ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ctx.load_cert_chain(str(certs.cert), str(certs.key))
        self.handler = _Handler()
        self.server: asyncio.Server | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            lambda: AioSMTP(
                self.handler, hostname=self.host, tls_context=self.ctx, require_starttls=False
            ),
            self.ip,
            PORT,
        )

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    def inbox(self) -> list[tuple[str, list[str], bytes, list[str]]]:
        return list(self.handler.messages)


def served_certificate(ip: str, port: int) -> bytes | None:
    """DER of the certificate an SMTP server presents after STARTTLS (unverified)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with smtplib.SMTP(ip, port, local_hostname="probe.test", timeout=5) as s:
        s.starttls(context=ctx)
        assert isinstance(s.sock, ssl.SSLSocket)
        return s.sock.getpeercert(binary_form=True)


class PostfixMX:
    """The session's Postfix as the MX of one domain: STARTTLS with ``certs``,
    mail for the domain into the Maildir ``<base>/<domain>/``.

    ``postfix reload`` is asynchronous; ``start`` waits until new connections get
    the new certificate, so a test never talks to a stale smtpd.
    """

    def __init__(self, postfix: PostfixPeer, domain: str, certs: CertFiles) -> None:
        self.postfix, self.domain, self.certs = postfix, domain, certs

    def configure(self, timeout: float = 20.0) -> None:
        self.postfix.receive_into_maildir(
            [self.domain], cert_file=self.certs.cert, key_file=self.certs.key
        )
        deadline = time.monotonic() + timeout
        while True:
            der = None
            with contextlib.suppress(OSError, smtplib.SMTPException):
                der = served_certificate(self.postfix.ip, self.postfix.port)
            if der == self.certs.leaf_der:
                return
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"Postfix on {self.postfix.ip} does not serve the new certificate "
                    f"after {timeout}s\n{self.postfix.log_tail()}"
                )
            time.sleep(0.1)

    async def start(self) -> None:
        await asyncio.to_thread(self.configure)

    async def stop(self) -> None:
        pass

    def inbox(self) -> list[bytes]:
        """Messages in the domain's Maildir once Postfix's queue is empty."""
        self.postfix.wait_until_queue_empty(30)
        return self.postfix.maildir_messages(self.domain)
