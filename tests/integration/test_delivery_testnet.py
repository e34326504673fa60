"""Outgoing delivery over the DNSSEC test network: the rows of the decision table
(docs/delivery-policy.md) with real DNS, HTTPS policies and SMTP peers, asserting
the delivery outcome and the rows stored in tlsrptresult.db (§1).

Each row runs twice (``peer_kind``): against postel's own SMTPService and against
the session's private Postfix (one instance, its certificate and Maildir domain
reconfigured per test). Postfix does not implement REQUIRETLS (RFC 8689), so it
is the "peer without REQUIRETLS"; the capable peer is postel only.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
from delivery_peer import (
    PORT,
    CertFiles,
    PlainPeer,
    PostelPeer,
    PostfixMX,
    issue,
    peer_config,
)

from postel.config import Config, load_config
from postel.delivery import Deliverer, DeliveryRequest, RecipientOutcome
from postel.dns.resolver import DNSResolver
from postel.mtastsdb import MTASTSDB
from postel.netpolicy import AddressPolicy
from postel.queue.recorder import AttemptRecord, OutcomeRecorder
from postel.store import Store
from postel.tlsrptresultdb import ResultDB

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(120),
    pytest.mark.usefixtures("every_log_level"),
]

_counter = itertools.count()
OTHER_CA = trustme.CA()  # not trusted by the sender


@dataclass
class Sender:
    cfg: Config
    store: Store
    mtastsdb: MTASTSDB
    resultdb: ResultDB
    deliverer: Deliverer
    tmp: Path
    recorder: OutcomeRecorder

    def rows(self) -> list[tuple[Any, ...]]:
        """(policy domain, is_host, type, strings, successes, failures, [(type, reason)])."""
        out = []
        for r in self.resultdb.rows():
            [p] = r.results
            out.append(
                (
                    r.policy_domain,
                    r.is_host,
                    str(p.policy.policy_type),
                    p.policy.policy_strings,
                    p.summary.total_successful_session_count,
                    p.summary.total_failure_session_count,
                    sorted((str(d.result_type), d.failure_reason_code) for d in p.failure_details),
                )
            )
        return out

    async def send(self, domain: str, **kw: Any) -> list[RecipientOutcome]:
        msg = self.tmp / f"msg-{next(_counter)}.eml"
        msg.write_bytes(
            b"From: alice@sender.test\r\nTo: user@"
            + domain.encode()
            + b"\r\nSubject: test\r\nMessage-ID: <x@sender.test>\r\n\r\nHello.\r\n"
        )
        req = DeliveryRequest(
            domain=domain,
            mail_from="alice@sender.test",
            rcpts=[f"user@{domain}"],
            message=msg,
            size=msg.stat().st_size,
            sender_account="alice",
            **kw,
        )
        outcome = await self.deliverer.deliver(req)
        await self.recorder.record(AttemptRecord(outcome))  # as the queue's runner does
        return list(outcome.recipients)


@pytest.fixture(params=["postel", "postfix"])
def peer_kind(request: pytest.FixtureRequest) -> str:
    """Which receiving MX the test delivers to (postel's SMTPService or Postfix)."""
    return str(request.param)


@pytest.fixture
def peer_port(peer_kind: str, request: pytest.FixtureRequest) -> int:
    if peer_kind == "postfix":
        postfix = request.getfixturevalue("postfix_peer")
        if not postfix.running:  # first use in this session: start it, take mail for no one
            postfix.configure(relay_to=None, tls="may")
        return int(postfix.port)
    return PORT


@pytest.fixture
async def sender(testnet: Any, tmp_path: Path, peer_port: int) -> AsyncIterator[Sender]:
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
smtp_port = {peer_port}
connect_timeout = 5
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
    mdb = MTASTSDB.open(
        cfg.datadir.mtasts_db,
        extra_ca_files=[testnet.ca_file],
        timeout=10,
        addresses=AddressPolicy.from_networks(cfg.static.delivery.allowed_internal_networks),
    )
    rdb = ResultDB.open(cfg.datadir.tlsrptresult_db)
    resolver = DNSResolver([testnet.resolver_ip], timeout=5)
    dl = Deliverer(cfg, resolver, mdb, store, command_timeout=20)
    try:
        yield Sender(cfg, store, mdb, rdb, dl, tmp_path, OutcomeRecorder(None, rdb, store))
    finally:
        await dl.aclose()
        rdb.close()
        mdb.close()
        store.close()


ENFORCE = "version: STSv1\nmode: enforce\nmx: mx.{d}\nmax_age: 86400\n"
TESTING = "version: STSv1\nmode: testing\nmx: mx.{d}\nmax_age: 86400\n"


def sts_strings(domain: str, mode: str) -> list[str]:
    return ["version: STSv1", f"mode: {mode}", f"mx: mx.{domain}", "max_age: 86400"]


@dataclass
class Site:
    domain: str
    host: str
    ip: str
    certs: CertFiles
    peer: Any


@pytest.fixture
async def site_factory(
    testnet: Any, tmp_path: Path, peer_kind: str, request: pytest.FixtureRequest
) -> AsyncIterator[Any]:
    peers: list[Any] = []

    async def make(
        *,
        ca: trustme.CA | None = None,
        dnssec: str = "signed",
        tlsa: list[str] | None = None,
        sts: str | None = None,
        plain_peer: bool = False,
        tlsa_fn: Any = None,
        cert_name: str | None = None,
        self_mx: bool = False,
    ) -> Site:
        """A recipient domain whose MX is the peer of ``peer_kind``; ``plain_peer``:
        a peer without REQUIRETLS (aiosmtpd, or Postfix anyway)."""
        n = next(_counter)
        domain = f"dlv{n}-{testnet.ip(3).split('.')[1]}.test"
        host = domain if self_mx else f"mx.{domain}"  # self_mx: no MX record (RFC 5321 §5.1)
        postfix = request.getfixturevalue("postfix_peer") if peer_kind == "postfix" else None
        ip = postfix.ip if postfix is not None else testnet.ip()
        certs = issue(ca or testnet.ca, host, tmp_path / f"peer{n}", cert_name)
        records = [f"@ A {ip}"] if self_mx else ["@ MX 10 mx", f"mx A {ip}"]
        if tlsa_fn is not None:
            tlsa = tlsa_fn(certs)
        owner = "_25._tcp" if self_mx else "_25._tcp.mx"
        records += [f"{owner} TLSA {t}" for t in tlsa or []]
        if sts is not None:
            records += ['_mta-sts TXT "v=STSv1; id=1"', f"mta-sts A {testnet.https_ip}"]
            testnet.https_serve(
                f"mta-sts.{domain}", "/.well-known/mta-sts.txt", sts.format(d=domain)
            )
        testnet.set_zone(domain, records, dnssec=dnssec)
        if postfix is not None:
            peer: Any = PostfixMX(postfix, domain, certs)
        elif plain_peer:
            peer = PlainPeer(ip, host, certs)
        else:
            pdir = tmp_path / f"peercfg{n}"
            pdir.mkdir()
            peer = PostelPeer(peer_config(pdir, host, ip, domain, certs))
        await peer.start()
        peers.append(peer)
        return Site(domain, host, ip, certs, peer)

    try:
        yield make
    finally:
        for p in peers:
            await p.stop()


def ee(c: CertFiles) -> list[str]:
    return [f"3 1 1 {c.spki_sha256()}"]


def ta(c: CertFiles) -> list[str]:
    return [f"2 0 1 {c.ca_sha256()}"]


WRONG = "ab" * 32


def delivered(s: Site, count: int = 1) -> list[Any]:
    """The messages the peer holds, asserting there are ``count``; Postfix must have
    written them to the Maildir, received over TLS (its Received header says so)."""
    msgs = s.peer.inbox()
    assert len(msgs) == count, msgs
    if isinstance(s.peer, PostfixMX):
        for m in msgs:
            assert b"Subject: test" in m and b"(using TLS" in m, m
    return msgs


async def test_no_policy(sender: Sender, site_factory: Any) -> None:
    s = await site_factory()
    [o] = await sender.send(s.domain)
    assert (o.status, o.code, o.remote_mta) == ("delivered", 250, s.host)
    delivered(s)
    assert sender.rows() == [
        (s.domain, False, "no-policy-found", [], 1, 0, []),
        (s.host, True, "no-policy-found", [], 1, 0, []),
    ]
    sec = sender.store.account("alice").domain_security(s.domain)
    # postel announces REQUIRETLS, Postfix does not.
    assert (sec.starttls, sec.requiretls) == (True, isinstance(s.peer, PostelPeer))


async def test_mtasts_enforce_valid(sender: Sender, site_factory: Any) -> None:
    s = await site_factory(sts=ENFORCE)
    [o] = await sender.send(s.domain)
    assert o.status == "delivered"
    delivered(s)
    assert sender.rows() == [
        (s.domain, False, "sts", sts_strings(s.domain, "enforce"), 1, 0, []),
        (s.host, True, "no-policy-found", [], 1, 0, []),
    ]


async def test_mtasts_enforce_wrong_certificate(sender: Sender, site_factory: Any) -> None:
    s = await site_factory(sts=ENFORCE, ca=OTHER_CA)
    [o] = await sender.send(s.domain)
    assert o.status == "temporary" and o.enhanced == "4.7.5"
    assert s.peer.inbox() == []
    assert sender.rows() == [
        (
            s.domain,
            False,
            "sts",
            sts_strings(s.domain, "enforce"),
            0,
            1,
            [("certificate-not-trusted", "")],
        ),
        (s.host, True, "no-policy-found", [], 0, 1, []),
    ]


async def test_mtasts_enforce_wrong_name(sender: Sender, site_factory: Any) -> None:
    s = await site_factory(sts=ENFORCE, cert_name="wrong-name.test")
    [o] = await sender.send(s.domain)
    assert (o.status, o.enhanced) == ("temporary", "4.7.5")
    assert s.peer.inbox() == []
    assert sender.rows() == [
        (
            s.domain,
            False,
            "sts",
            sts_strings(s.domain, "enforce"),
            0,
            1,
            [("certificate-host-mismatch", "")],
        ),
        (s.host, True, "no-policy-found", [], 0, 1, []),
    ]


async def test_mtasts_testing_wrong_certificate(sender: Sender, site_factory: Any) -> None:
    s = await site_factory(sts=TESTING, ca=OTHER_CA)
    [o] = await sender.send(s.domain)
    assert o.status == "delivered"
    delivered(s)
    assert sender.rows() == [
        (
            s.domain,
            False,
            "sts",
            sts_strings(s.domain, "testing"),
            1,
            0,
            [("certificate-not-trusted", "")],
        ),
        (s.host, True, "no-policy-found", [], 1, 0, []),
    ]


async def test_dane_ee_match(sender: Sender, site_factory: Any) -> None:
    s = await site_factory(ca=OTHER_CA, tlsa_fn=ee)
    [o] = await sender.send(s.domain)
    assert o.status == "delivered"
    delivered(s)
    rows = sender.rows()
    assert rows == [
        (s.domain, False, "no-policy-found", [], 1, 0, [("certificate-not-trusted", "")]),
        (s.host, True, "tlsa", ee(s.certs), 1, 0, []),
    ]


async def test_dane_ee_mismatch(sender: Sender, site_factory: Any) -> None:
    s = await site_factory(tlsa=[f"3 1 1 {WRONG}"])
    [o] = await sender.send(s.domain)
    assert o.status == "temporary" and s.peer.inbox() == []
    assert sender.rows() == [
        (s.domain, False, "no-policy-found", [], 0, 1, []),
        (s.host, True, "tlsa", [f"3 1 1 {WRONG}"], 0, 1, [("validation-failure", "dane-no-match")]),
    ]


async def test_dane_ta_match(sender: Sender, site_factory: Any) -> None:
    s = await site_factory(ca=OTHER_CA, tlsa_fn=ta)
    [o] = await sender.send(s.domain)
    assert o.status == "delivered"
    delivered(s)
    assert sender.rows() == [
        (s.domain, False, "no-policy-found", [], 1, 0, [("certificate-not-trusted", "")]),
        (s.host, True, "tlsa", ta(s.certs), 1, 0, []),
    ]


def ta_spki(c: CertFiles) -> list[str]:
    return [f"2 1 1 {c.ca_spki_sha256()}"]


async def test_dane_ta_spki_match(sender: Sender, site_factory: Any) -> None:
    """TLSA 2 1 1 of the issuing CA's key; with every_log_level this runs at
    tracedata too, where a reserved extra key once made the attempt fail."""
    s = await site_factory(ca=OTHER_CA, tlsa_fn=ta_spki)
    [o] = await sender.send(s.domain)
    assert o.status == "delivered"
    delivered(s)
    assert sender.rows() == [
        (s.domain, False, "no-policy-found", [], 1, 0, [("certificate-not-trusted", "")]),
        (s.host, True, "tlsa", ta_spki(s.certs), 1, 0, []),
    ]


async def test_dane_ta_mismatch(sender: Sender, site_factory: Any) -> None:
    s = await site_factory(ca=OTHER_CA, tlsa=[f"2 0 1 {WRONG}"])
    [o] = await sender.send(s.domain)
    assert o.status == "temporary" and s.peer.inbox() == []
    assert sender.rows() == [
        (s.domain, False, "no-policy-found", [], 0, 1, [("certificate-not-trusted", "")]),
        (s.host, True, "tlsa", [f"2 0 1 {WRONG}"], 0, 1, [("validation-failure", "dane-no-match")]),
    ]


async def test_insecure_dns_ignores_tlsa(sender: Sender, site_factory: Any) -> None:
    s = await site_factory(dnssec="unsigned", tlsa=[f"3 1 1 {WRONG}"])
    [o] = await sender.send(s.domain)
    assert o.status == "delivered"
    delivered(s)
    assert sender.rows() == [
        (s.domain, False, "no-policy-found", [], 1, 0, []),
        (s.host, True, "no-policy-found", [], 1, 0, []),
    ]


async def test_bogus_dnssec(sender: Sender, site_factory: Any) -> None:
    s = await site_factory(dnssec="bogus")
    [o] = await sender.send(s.domain)
    assert o.status == "temporary" and s.peer.inbox() == []
    # No host entry: the MX lookup itself failed. The _mta-sts TXT lookup fails
    # too (bogus): reported as a policy fetch error (uncounted) on the domain.
    [row] = sender.rows()
    reason = row[6][1][1]
    assert row == (
        s.domain,
        False,
        "sts",
        [],
        0,
        1,
        [("sts-policy-fetch-error", ""), ("validation-failure", reason)],
    )
    # unbound's EDE for the broken DS chain (6 DNSSEC Bogus, or 9 DNSKEY Missing).
    assert reason in ("dns-extended-error-6-dnssec-bogus", "dns-extended-error-9-dnskey-missing")


@pytest.mark.parametrize("peer_kind", ["postel"])  # Postfix does not implement RFC 8689
async def test_requiretls_capable_peer(sender: Sender, site_factory: Any) -> None:
    s = await site_factory(sts=ENFORCE)
    [o] = await sender.send(s.domain, requiretls=True)
    assert o.status == "delivered"
    [msg] = s.peer.inbox()
    assert msg.requiretls
    assert sender.rows() == [
        (s.domain, False, "sts", sts_strings(s.domain, "enforce"), 1, 0, []),
        (s.host, True, "no-policy-found", [], 1, 0, []),
    ]


async def test_requiretls_peer_without_requiretls(sender: Sender, site_factory: Any) -> None:
    """postel: aiosmtpd without the extension; Postfix never announces it."""
    s = await site_factory(sts=ENFORCE, plain_peer=True)
    [o] = await sender.send(s.domain, requiretls=True)
    assert (o.status, o.code, o.enhanced) == ("permanent", 550, "5.7.30")
    assert s.peer.inbox() == []
    # TLS itself succeeded: the refusal is the sender's REQUIRETLS decision.
    assert sender.rows() == [
        (s.domain, False, "sts", sts_strings(s.domain, "enforce"), 1, 0, []),
        (s.host, True, "no-policy-found", [], 1, 0, []),
    ]
    # Without REQUIRETLS the same peer gets the message; the successful session
    # is remembered (docs/delivery-policy.md, After the session): STARTTLS yes, REQUIRETLS no.
    [o] = await sender.send(s.domain)
    assert o.status == "delivered"
    delivered(s)
    sec = sender.store.account("alice").domain_security(s.domain)
    assert (sec.starttls, sec.requiretls) == (True, False)


async def test_requiretls_without_policy(sender: Sender, site_factory: Any) -> None:
    s = await site_factory()
    [o] = await sender.send(s.domain, requiretls=True)
    assert (o.status, o.enhanced) == ("permanent", "5.7.30")
    assert s.peer.inbox() == []
    # Decided before connecting: no session, nothing counted.
    assert sender.rows() == [
        (s.domain, False, "no-policy-found", [], 0, 0, []),
        (s.host, True, "no-policy-found", [], 0, 0, []),
    ]


async def test_tls_required_no_with_broken_certificate(sender: Sender, site_factory: Any) -> None:
    s = await site_factory(sts=ENFORCE, ca=OTHER_CA)
    [o] = await sender.send(s.domain, tls_required_no=True)
    assert o.status == "delivered"
    delivered(s)
    assert sender.rows() == [
        (
            s.domain,
            False,
            "sts",
            sts_strings(s.domain, "enforce"),
            1,
            0,
            [("certificate-not-trusted", "")],
        ),
        (s.host, True, "no-policy-found", [], 1, 0, []),
    ]


async def test_tls_required_no_still_reports_valid_dane(sender: Sender, site_factory: Any) -> None:
    """RFC 8689 §5: failures are ignored, the evaluation is not skipped; the host's
    signed TLSA records are its policy in the report (was: no-policy-found)."""
    s = await site_factory(ca=OTHER_CA, tlsa_fn=ee)
    [o] = await sender.send(s.domain, tls_required_no=True)
    assert o.status == "delivered"
    delivered(s)
    assert sender.rows() == [
        (s.domain, False, "no-policy-found", [], 1, 0, [("certificate-not-trusted", "")]),
        (s.host, True, "tlsa", ee(s.certs), 1, 0, []),
    ]


async def test_tls_required_no_reports_an_ignored_dane_mismatch(
    sender: Sender, site_factory: Any
) -> None:
    s = await site_factory(tlsa=[f"3 1 1 {WRONG}"])
    [o] = await sender.send(s.domain, tls_required_no=True)
    assert o.status == "delivered"  # the mismatch is ignored under the header
    delivered(s)
    assert sender.rows() == [
        (s.domain, False, "no-policy-found", [], 1, 0, []),
        (s.host, True, "tlsa", [f"3 1 1 {WRONG}"], 1, 0, [("validation-failure", "dane-no-match")]),
    ]


async def test_domain_that_is_its_own_mx_host_counts_one_session(
    sender: Sender, site_factory: Any
) -> None:
    s = await site_factory(self_mx=True)
    assert s.host == s.domain
    [o] = await sender.send(s.domain)
    assert o.status == "delivered"
    delivered(s)
    assert sender.rows() == [(s.domain, False, "no-policy-found", [], 1, 0, [])]
