"""Connection reuse (smtpclient.scache) against the session's Postfix over the
DNSSEC test network: connections counted in Postfix's own log ("connect from",
one line per SMTP connection its smtpd accepts)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from delivery_peer import CertFiles, issue
from postfixpeer import PostfixPeer

from postel.config import load_config
from postel.delivery import Deliverer, DeliveryRequest, RecipientOutcome
from postel.dns.resolver import DNSResolver
from postel.queue.recorder import AttemptRecord, OutcomeRecorder
from postel.store import Store
from postel.tlsrptresultdb import ResultDB

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(120),
]

_n = itertools.count()


@dataclass
class Sender:
    deliverer: Deliverer
    resultdb: ResultDB
    tmp: Path
    recorder: OutcomeRecorder

    async def send(self, domain: str, rcpts: list[str] | None = None) -> list[RecipientOutcome]:
        msg = self.tmp / f"msg-{next(_n)}.eml"
        msg.write_bytes(
            f"From: alice@sender.test\r\nTo: user@{domain}\r\n"
            "Subject: reuse\r\n\r\nHi.\r\n".encode()
        )
        req = DeliveryRequest(
            domain=domain,
            mail_from="alice@sender.test",
            rcpts=rcpts or [f"user@{domain}"],
            message=msg,
            size=msg.stat().st_size,
        )
        outcome = await self.deliverer.deliver(req)
        await self.recorder.record(AttemptRecord(outcome))  # as the queue's runner does
        return list(outcome.recipients)

    def sessions(self, policy_domain: str) -> tuple[int, int]:
        """(successful, failed) TLS sessions recorded for *policy_domain*."""
        ok = bad = 0
        for r in self.resultdb.rows():
            if r.policy_domain == policy_domain:
                for p in r.results:
                    ok += p.summary.total_successful_session_count
                    bad += p.summary.total_failure_session_count
        return ok, bad


@pytest.fixture
async def sender(testnet: Any, tmp_path: Path, postfix_peer: PostfixPeer) -> AsyncIterator[Sender]:
    d = tmp_path / "sender"
    d.mkdir()
    (d / "postel.toml").write_text(f"""
hostname = "mail.sender.test"
postmaster_account = "alice"
[listeners]
[tls]
extra_ca_files = ["{testnet.ca_file}"]
[delivery]
allowed_internal_networks = ["127.0.0.0/8", "::1/128"]  # test network on loopback
smtp_port = {postfix_peer.port}
connect_timeout = 5
connection_cache_time = 30
""")
    (d / "domains.toml").write_text("""
[domains."sender.test"]
[accounts.alice]
domain = "sender.test"
addresses = ["alice@sender.test"]
""")
    cfg = load_config(d)
    cfg.datadir.ensure()
    store = Store(cfg.datadir)
    rdb = ResultDB.open(cfg.datadir.tlsrptresult_db)
    dl = Deliverer(cfg, DNSResolver([testnet.resolver_ip], timeout=5), None, store)
    try:
        yield Sender(dl, rdb, tmp_path, OutcomeRecorder(None, rdb, store))
    finally:
        await dl.aclose()
        rdb.close()
        store.close()


def connections(peer: PostfixPeer, since: int) -> int:
    return sum(1 for line in peer.log_text(since).splitlines() if "]: connect from " in line)


def mx_site(
    testnet: Any, peer: PostfixPeer, tmp: Path, *, dnssec: str, tlsa: bool
) -> tuple[str, CertFiles]:
    """A domain whose MX ``mx.<domain>`` is the Postfix peer; with *tlsa* a
    DANE-EE record (3 1 1) for its certificate."""
    domain = f"reuse{next(_n)}-{testnet.ip(3).split('.')[1]}.test"
    certs = issue(testnet.ca, f"mx.{domain}", tmp / domain)
    records = ["@ MX 10 mx", f"mx A {peer.ip}"]
    if tlsa:
        records.append(f"_25._tcp.mx TLSA 3 1 1 {certs.spki_sha256()}")
    testnet.set_zone(domain, records, dnssec=dnssec)
    return domain, certs


async def receive(peer: PostfixPeer, domains: list[str], certs: CertFiles) -> None:
    await asyncio.to_thread(
        peer.receive_into_maildir, domains, cert_file=certs.cert, key_file=certs.key
    )
    await asyncio.sleep(1)  # postfix reload: new smtpd processes with this configuration


async def wait_maildir(peer: PostfixPeer, domain: str, count: int) -> list[bytes]:
    for _ in range(100):
        msgs = peer.maildir_messages(domain)
        if len(msgs) >= count:
            return msgs
        await asyncio.sleep(0.1)
    return peer.maildir_messages(domain)


async def test_messages_to_one_destination_use_one_connection(
    testnet: Any, postfix_peer: PostfixPeer, sender: Sender, tmp_path: Path
) -> None:
    postfix_peer.configure(relay_to=None, tls="may")
    domain, certs = mx_site(testnet, postfix_peer, tmp_path, dnssec="unsigned", tlsa=False)
    await receive(postfix_peer, [domain], certs)
    mark = postfix_peer.log_mark()
    for _ in range(5):
        [o] = await sender.send(domain)
        assert o.status == "delivered", o
    # Two recipients of one message: one transaction (one MAIL FROM, two RCPT TO).
    outs = await sender.send(domain, [f"a@{domain}", f"b@{domain}"])
    assert [o.status for o in outs] == ["delivered", "delivered"]
    msgs = await wait_maildir(postfix_peer, domain, 7)
    assert len(msgs) == 7 and all(b"(using TLS" in m for m in msgs)
    assert connections(postfix_peer, mark) == 1, postfix_peer.log_text(mark)
    # RFC 8460 counts sessions: one TLS session for the six messages.
    assert sender.sessions(domain) == (1, 0)


async def test_dane_message_never_reuses_an_opportunistic_connection(
    testnet: Any, postfix_peer: PostfixPeer, sender: Sender, tmp_path: Path
) -> None:
    """One MX host, reached under two policies: the MX of an unsigned domain is
    the DANE host of a signed one. The opportunistic connection (no TLSA used,
    RFC 7672 §2.2.1: insecure MX) is never used for the DANE message."""
    postfix_peer.configure(relay_to=None, tls="may")
    signed, certs = mx_site(testnet, postfix_peer, tmp_path, dnssec="signed", tlsa=True)
    plain = f"reuse{next(_n)}-{testnet.ip(3).split('.')[1]}.test"
    testnet.set_zone(plain, [f"@ MX 10 mx.{signed}."], dnssec="unsigned")
    await receive(postfix_peer, [signed, plain], certs)
    mark = postfix_peer.log_mark()
    [o] = await sender.send(plain)
    assert o.status == "delivered", o
    [o] = await sender.send(signed)
    assert o.status == "delivered", o
    assert connections(postfix_peer, mark) == 2, postfix_peer.log_text(mark)
    # The DANE session was verified on its own connection and is counted.
    rows = {(r.policy_domain, r.recipient_domain): r for r in sender.resultdb.rows()}
    [tlsa] = rows[(f"mx.{signed}", signed)].results
    assert str(tlsa.policy.policy_type) == "tlsa"
    assert tlsa.summary.total_successful_session_count == 1
    # A second DANE message continues the DANE connection.
    [o] = await sender.send(signed)
    assert o.status == "delivered"
    assert connections(postfix_peer, mark) == 2
    assert len(await wait_maildir(postfix_peer, signed, 2)) == 2
    assert len(await wait_maildir(postfix_peer, plain, 1)) == 1


async def test_dropped_idle_connection_is_replaced_without_loss(
    testnet: Any, postfix_peer: PostfixPeer, sender: Sender, tmp_path: Path
) -> None:
    """Postfix ends the idle session (smtpd_timeout); the next message goes over
    a new connection, delivered exactly once."""
    postfix_peer.configure(relay_to=None, tls="may", extra={"smtpd_timeout": "2s"})
    try:
        domain, certs = mx_site(testnet, postfix_peer, tmp_path, dnssec="unsigned", tlsa=False)
        await receive(postfix_peer, [domain], certs)
        mark = postfix_peer.log_mark()
        [o] = await sender.send(domain)
        assert o.status == "delivered"
        await asyncio.sleep(4)  # longer than smtpd_timeout, shorter than the cache's 30 s
        [o] = await sender.send(domain)
        assert o.status == "delivered", o
        msgs = await wait_maildir(postfix_peer, domain, 2)
        await asyncio.sleep(0.5)
        assert len(postfix_peer.maildir_messages(domain)) == 2, msgs
        assert connections(postfix_peer, mark) == 2
    finally:
        postfix_peer.configure(relay_to=None, tls="may")
