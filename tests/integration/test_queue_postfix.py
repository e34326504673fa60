"""End to end through the outgoing queue: a running postel (postel.server.run with
the queue wired in services.py) takes a message on its submission port (STARTTLS,
AUTH), queues it and delivers it over the test network to a Postfix MX; a
recipient domain with a null MX (RFC 7505) bounces into the sender's Inbox."""

from __future__ import annotations

import asyncio
import email
import email.policy
import itertools
import smtplib
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from postfixpeer import PostfixPeer
from storagebackend import Backend

from postel.config import Config, load_config
from postel.server import Running, run
from postel.wiring import open_queue_entries

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(120),
    pytest.mark.usefixtures("every_log_level"),
]

PASSWORD = "correct horse battery staple"
HOSTNAME = "mail.qsender.test"
_n = itertools.count()


@dataclass
class Sender:
    cfg: Config
    port: int
    ca_file: str
    backend: Backend

    def submit(self, rcpts: list[str], body: bytes) -> None:
        ctx = ssl.create_default_context(cafile=self.ca_file)
        with smtplib.SMTP("127.0.0.1", self.port, local_hostname="laptop", timeout=20) as c:
            c.starttls(context=ctx)
            c.login("alice@qsender.test", PASSWORD)
            c.sendmail("alice@qsender.test", rcpts, body)

    def inbox(self) -> list[bytes]:
        with self.backend.mailstore(self.cfg.dir, "alice") as acc:
            out = []
            for m in acc.page("Inbox", 0, 100):
                with acc.open_message(m.msgid) as f:
                    out.append(f.read())
            return out

    def queue_entries(self) -> list[Any]:
        """The queue's entries, of the data directory or of the database."""
        entries = open_queue_entries(self.cfg)
        try:
            return entries.entries()
        finally:
            entries.close()


@pytest.fixture
async def sender(testnet: Any, tmp_path: Path, storage_backend: Backend) -> AsyncIterator[Sender]:
    d = tmp_path / "sender"
    d.mkdir()
    cert = testnet.ca.issue_cert(HOSTNAME, "127.0.0.1")
    cert.private_key_pem.write_to_path(str(d / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(d / "cert.pem"))
    (d / "postel.toml").write_text(f"""
hostname = "{HOSTNAME}"
postmaster_account = "alice"
[listeners.local]
ips = ["127.0.0.1"]
tls_cert_file = "cert.pem"
tls_key_file = "key.pem"
smtp = {{ enabled = false }}
submission = {{ port = 0 }}
submissions = {{ enabled = false }}
[dns]
nameservers = ["{testnet.resolver_ip}"]
timeout = 5
[tls]
extra_ca_files = ["{testnet.ca_file}"]
[reports]
no_outgoing_tls_reports = true
[delivery]
allowed_internal_networks = ["127.0.0.0/8", "::1/128"]  # test network on loopback
connect_timeout = 5
""")
    (d / "domains.toml").write_text("""
[domains."qsender.test"]
[accounts.alice]
domain = "qsender.test"
addresses = ["alice@qsender.test"]
""")
    storage_backend.configure(d, {"alice": PASSWORD})
    cfg = load_config(d)
    ready: asyncio.Future[Running] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()
    task = asyncio.create_task(
        run(cfg, ready=lambda r: ready.set_result(r), stop=stop, check_dns=False)
    )
    try:
        running = await asyncio.wait_for(asyncio.shield(ready), 20)
        port = next(p for _ip, p, kind in running.bound if kind == "submission")
        yield Sender(cfg, port, str(testnet.ca_file), storage_backend)
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)


async def wait_for(cond: Any, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if await asyncio.to_thread(cond):
            return
        await asyncio.sleep(0.2)
    raise AssertionError("condition not met in time")


async def test_submitted_mail_is_queued_and_delivered_to_postfix(
    testnet: Any, postfix_peer: PostfixPeer, sender: Sender, tmp_path: Path
) -> None:
    domain = f"qpf{next(_n)}-{testnet.ip().replace('.', '-')}.test"
    mx = f"mx.{domain}"
    cert = testnet.ca.issue_cert(mx)
    cert.private_key_pem.write_to_path(str(tmp_path / "mx-key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "mx-cert.pem"))
    testnet.set_zone(domain, ["@ MX 10 mx", f"mx A {postfix_peer.ip}"], dnssec="unsigned")
    postfix_peer.configure(relay_to=None, tls="may")
    postfix_peer.receive_into_maildir(
        [domain], cert_file=tmp_path / "mx-cert.pem", key_file=tmp_path / "mx-key.pem"
    )
    body = (
        f"From: alice@qsender.test\r\nTo: bob@{domain}\r\nSubject: through the queue\r\n"
        "\r\nHello over the queue.\r\n"
    ).encode()
    await asyncio.to_thread(sender.submit, [f"bob@{domain}", f"carol@{domain}"], body)

    await wait_for(lambda: len(postfix_peer.maildir_messages(domain)) == 2)
    msgs = postfix_peer.maildir_messages(domain)
    assert all(b"Subject: through the queue" in m for m in msgs)
    assert all(b"(using TLS" in m for m in msgs)  # opportunistic STARTTLS was used
    await wait_for(lambda: sender.queue_entries() == [])
    assert sender.inbox() == []  # no DSN


async def test_null_mx_bounces_into_senders_inbox(testnet: Any, sender: Sender) -> None:
    domain = f"qnull{next(_n)}-{testnet.ip().replace('.', '-')}.test"
    testnet.set_zone(domain, ["@ MX 0 ."], dnssec="unsigned")
    body = (
        f"From: alice@qsender.test\r\nTo: bob@{domain}\r\nSubject: nowhere\r\n\r\nx\r\n"
    ).encode()
    await asyncio.to_thread(sender.submit, [f"bob@{domain}"], body)
    await wait_for(lambda: len(sender.inbox()) == 1)
    dsn = email.message_from_bytes(sender.inbox()[0], policy=email.policy.default)
    assert dsn.get_content_type() == "multipart/report"
    text = sender.inbox()[0].decode()
    assert f"Final-Recipient: rfc822; bob@{domain}" in text
    assert "Action: failed" in text and "Status: 5." in text
    # The bounce is stored before the attempt is recorded: wait for the record.
    await wait_for(lambda: sender.queue_entries() == [])


async def test_delivery_reuses_dns_answers_within_their_ttl(
    testnet: Any, postfix_peer: PostfixPeer, sender: Sender, tmp_path: Path
) -> None:
    """The queue keeps the MX and address answers of a domain for their TTL (30 s
    in the test zones): after the zone moves its MX to an address where nothing
    listens, and unbound's cache is flushed, the next message still reaches the
    MX the first one used."""
    domain = f"qcache{next(_n)}-{testnet.ip().replace('.', '-')}.test"
    trap = testnet.ip()  # a loopback address of the test network, no listener
    testnet.set_zone(domain, ["@ MX 10 mx", f"mx A {postfix_peer.ip}"], dnssec="unsigned")
    postfix_peer.configure(relay_to=None, tls="none")
    postfix_peer.receive_into_maildir([domain])

    def body(n: int) -> bytes:
        return (
            f"From: alice@qsender.test\r\nTo: bob@{domain}\r\nSubject: m{n}\r\n\r\nx\r\n".encode()
        )

    await asyncio.to_thread(sender.submit, [f"bob@{domain}"], body(1))
    await wait_for(lambda: len(postfix_peer.maildir_messages(domain)) == 1)
    testnet.set_zone(domain, ["@ MX 10 other", f"other A {trap}"], dnssec="unsigned")
    started = time.monotonic()
    await asyncio.to_thread(sender.submit, [f"bob@{domain}"], body(2))
    await wait_for(lambda: len(postfix_peer.maildir_messages(domain)) == 2, timeout=20)
    assert time.monotonic() - started < 25  # within the TTL of the first answers
    await wait_for(lambda: sender.queue_entries() == [])
