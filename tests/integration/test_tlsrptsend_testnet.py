"""Outgoing TLS reports over the test network: a day of recorded
results for several recipient domains (MTA-STS) and MX hosts (DANE) is sent
through the real queue and Deliverer to postel's own SMTPService, and by HTTPS
POST to a server with a testnet.ca certificate. The received e-mails are checked
(headers, file name, gzip JSON valid per RFC 8460, `postel tlsrpt parse`, DKIM
against the test DNS) and so are the POSTs; the rows end up sent and deleted.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import gzip
import itertools
import json
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from delivery_peer import PORT, PostelPeer, issue

from postel.auth import public_key_record, verify_dkim, verify_message
from postel.cli.main import cli
from postel.config import Config, load_config
from postel.delivery import Deliverer
from postel.dns.resolver import DNSResolver
from postel.mtastsdb import MTASTSDB
from postel.netpolicy import AddressPolicy
from postel.queue import OutcomeRecorder, QueueRunner, QueueSubmitter, SQLiteQueueEntries
from postel.store import Store
from postel.tlsrpt import parse_report
from postel.tlsrpt.report import (
    FailureDetails,
    Policy,
    PolicyDetails,
    PolicyType,
    ResultType,
    Summary,
)
from postel.tlsrptresultdb import AttemptResults, ResultDB
from postel.tlsrptsend.service import QueueEnqueue, make_sender

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(180),
    pytest.mark.usefixtures("every_log_level"),
]

_counter = itertools.count()


@dataclass
class PostServer:
    """An HTTPS server that records POSTs (RFC 8460 §5.4 receiver)."""

    ip: str
    port: int = 0
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    server: asyncio.Server | None = None

    async def start(self, ctx: ssl.SSLContext) -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                lines = head.split("\r\n")
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.requests.append((lines[0], headers, body))
                writer.write(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
            except (OSError, asyncio.IncompleteReadError, ssl.SSLError):
                pass
            finally:
                writer.close()

        self.server = await asyncio.start_server(handle, self.ip, 0, ssl=ctx)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


def _pkcs8(key: ed25519.Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _sts(domain: str, mx: str, ok: int, fail: int) -> Policy:
    details = (
        [
            FailureDetails(
                ResultType.CERTIFICATE_EXPIRED,
                sending_mta_ip="192.0.2.10",
                receiving_mx_hostname=mx,
                receiving_ip="192.0.2.25",
                failed_session_count=fail,
            )
        ]
        if fail
        else []
    )
    strings = ["version: STSv1", "mode: enforce", f"mx: {mx}", "max_age: 86400"]
    return Policy(PolicyDetails(PolicyType.STS, strings, domain, [mx]), Summary(ok, fail), details)


def _tlsa(base: str, ok: int, fail: int) -> Policy:
    details = (
        [
            FailureDetails(
                ResultType.VALIDATION_FAILURE,
                sending_mta_ip="192.0.2.10",
                receiving_mx_hostname=base,
                receiving_ip="192.0.2.26",
                failed_session_count=fail,
                failure_reason_code="dane-no-match",
            )
        ]
        if fail
        else []
    )
    return Policy(
        PolicyDetails(PolicyType.TLSA, ["3 1 1 " + "cd" * 32], base, []),
        Summary(ok, fail),
        details,
    )


@dataclass
class World:
    zone: str
    sender_cfg: Config
    peer: PostelPeer
    post: PostServer
    resolver: DNSResolver

    def d(self, label: str) -> str:
        return f"{label}.{self.zone}"


@pytest.fixture
async def world(testnet: Any, tmp_path: Path) -> AsyncIterator[World]:
    n = next(_counter)
    zone = f"trs{n}-{testnet.ip(3).split('.')[1]}-{testnet.ip(3).split('.')[2]}.test"

    def d(label: str) -> str:
        return f"{label}.{zone}"

    # The receiving peer: postel's SMTPService for rpt.<zone>.
    peer_ip, post_ip = testnet.ip(), testnet.ip()
    pdir = tmp_path / "peer"
    pdir.mkdir()
    certs = issue(testnet.ca, d("mx.rpt"), pdir / "tls")
    (pdir / "postel.toml").write_text(f"""
hostname = "{d("mx.rpt")}"
postmaster_account = "rcpt"
[listeners.mx]
ips = ["{peer_ip}"]
tls_cert_file = "{certs.cert}"
tls_key_file = "{certs.key}"
smtp = {{ port = {PORT} }}
submission = {{ enabled = false }}
submissions = {{ enabled = false }}
""")
    (pdir / "domains.toml").write_text(f"""
[domains."{d("rpt")}"]
[accounts.rcpt]
domain = "{d("rpt")}"
addresses = ["tlsrpt@{d("rpt")}", "hostrpt@{d("rpt")}"]
""")
    peer = PostelPeer(load_config(pdir))

    # The HTTPS report receiver.
    post = PostServer(post_ip)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    testnet.ca.issue_cert(d("post.rpt")).configure_cert(ctx)
    await post.start(ctx)

    # The sender: mail.snd.<zone>, DKIM for snd.<zone>.
    sdir = tmp_path / "sender"
    sdir.mkdir()
    key = ed25519.Ed25519PrivateKey.generate()
    (sdir / "dkim.pem").write_bytes(_pkcs8(key))
    (sdir / "postel.toml").write_text(f"""
hostname = "{d("mail.snd")}"
postmaster_account = "admin"
[listeners]
[dns]
nameservers = ["{testnet.resolver_ip}"]
[tls]
extra_ca_files = ["{testnet.ca_file}"]
[reports]
report_sender_localpart = "tls-reporting"
[delivery]
allowed_internal_networks = ["127.0.0.0/8", "::1/128"]  # test network on loopback
smtp_port = {PORT}
connect_timeout = 5
""")
    (sdir / "domains.toml").write_text(f"""
[domains."{d("snd")}"]
dkim.sign = ["s1"]
[domains."{d("snd")}".dkim.selectors.s1]
algorithm = "ed25519"
key_file = "dkim.pem"
[accounts.admin]
domain = "{d("snd")}"
addresses = ["admin@{d("snd")}"]
""")
    sender_cfg = load_config(sdir)
    sender_cfg.datadir.ensure()

    post_base = f"https://{d('post.rpt')}:{post.port}"
    testnet.set_zone(
        zone,
        [
            "rpt MX 10 mx.rpt",
            f"mx.rpt A {peer_ip}",
            f"post.rpt A {post_ip}",
            f's1._domainkey.snd TXT "{public_key_record(key)}"',
            f'_smtp._tls.a TXT "v=TLSRPTv1; rua=mailto:tlsrpt@{d("rpt")},{post_base}/a"',
            f'_smtp._tls.b TXT "v=TLSRPTv1; rua=mailto:tlsrpt@{d("rpt")}"',
            f'_smtp._tls.c TXT "v=TLSRPTv1; rua=mailto:tlsrpt@{d("rpt")}"',
            f'_smtp._tls.mx.hosting TXT "v=TLSRPTv1; rua=mailto:hostrpt@{d("rpt")},'
            f'{post_base}/host"',
            # mx.c has no TLSRPT record.
        ],
        dnssec="signed",
    )
    await peer.start()
    resolver = DNSResolver([testnet.resolver_ip], timeout=5)
    try:
        yield World(zone, sender_cfg, peer, post, resolver)
    finally:
        await peer.stop()
        await post.stop()


def record_day(w: World, day: dt.datetime) -> None:
    db = ResultDB.open(w.sender_cfg.datadir.tlsrptresult_db)
    try:
        a, b, c = w.d("a"), w.d("b"), w.d("c")
        hosting, mxc = w.d("mx.hosting"), w.d("mx.c")
        db.add_attempt(
            AttemptResults(a, _sts(a, hosting, 3, 2), {hosting: _tlsa(hosting, 5, 0)}),
            send_report=True,
            now=day,
        )
        db.add_attempt(AttemptResults(b, _sts(b, w.d("mx.b"), 4, 0), {}), send_report=True, now=day)
        db.add_attempt(
            AttemptResults(
                c,
                Policy(PolicyDetails(PolicyType.NO_POLICY_FOUND, [], c, []), Summary(2, 0)),
                {hosting: _tlsa(hosting, 1, 1), mxc: _tlsa(mxc, 2, 0)},
            ),
            send_report=True,
            now=day,
        )
    finally:
        db.close()


async def _wait_for(fn: Any, count: int, timeout: float = 60) -> list[Any]:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        got = fn()
        if len(got) >= count or loop.time() > end:
            return list(got)
        await asyncio.sleep(0.2)


async def test_daily_reports_mail_and_https(world: World, tmp_path: Path) -> None:
    w = world
    cfg = w.sender_cfg
    yesterday = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    day = yesterday.date()
    record_day(w, yesterday)

    # Dry run through the CLI first: JSON of what would be sent, nothing changes.
    r = await asyncio.to_thread(
        CliRunner().invoke,
        cli,
        ["tlsrpt", "send", "--config", str(cfg.path(".")), "--day", day.isoformat(), "--dry-run"],
    )
    assert r.exit_code == 0, r.stderr
    dry = {o["policy-domain"]: o for o in json.loads(r.stdout)}
    assert {k: o["status"] for k, o in dry.items()} == {
        w.d("a"): "would-send",
        w.d("b"): "no-failures",
        w.d("c"): "would-send",
        w.d("mx.c"): "no-record",
        w.d("mx.hosting"): "would-send",
    }
    assert dry[w.d("a")]["mailto"] == [f"tlsrpt@{w.d('rpt')}"]
    assert dry[w.d("a")]["https"] == [f"https://{w.d('post.rpt')}:{w.post.port}/a"]

    # The real run through the queue and the Deliverer.
    store = Store(cfg.datadir)
    mdb = MTASTSDB.open(
        cfg.datadir.mtasts_db,
        extra_ca_files=[w.sender_cfg.static.tls.extra_ca_files[0]],
        addresses=AddressPolicy.from_networks(cfg.static.delivery.allowed_internal_networks),
    )
    # One connection to tlsrptresult.db for the recorder and the report sender.
    rdb = ResultDB.open(cfg.datadir.tlsrptresult_db)
    entries = SQLiteQueueEntries(cfg.datadir)
    deliverer = Deliverer(cfg, w.resolver, mdb, store, command_timeout=20)
    recorder = OutcomeRecorder(entries, rdb, store)
    queue = QueueRunner(cfg, entries, deliverer, recorder, store, poll_interval=0.5)
    queue.start()
    try:
        submitter = QueueSubmitter(cfg, entries, store, queue=queue)
        sender = make_sender(
            cfg, rdb, w.resolver, enqueue=QueueEnqueue(submitter, cfg.datadir.tmp), spread=False
        )
        outcomes = {o.policy_domain: o for o in await sender.run()}
        assert {k: o.status for k, o in outcomes.items()} == {
            w.d("a"): "sent",
            w.d("b"): "no-failures",
            w.d("c"): "sent",
            w.d("mx.c"): "no-record",
            w.d("mx.hosting"): "sent",
        }
        # The day's rows are reported and deleted.
        assert rdb.rows(day=day) == []

        msgs = await _wait_for(lambda: w.peer.inbox(), 3)
    finally:
        await queue.stop()
        await deliverer.aclose()
        entries.close()
        rdb.close()
        mdb.close()

    assert len(msgs) == 3
    account = w.peer.store.account("rcpt")
    received: dict[str, bytes] = {}
    for m in msgs:
        raw = account.message_path(m.msgid).read_bytes()
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        received[str(msg["TLS-Report-Domain"])] = raw
    assert set(received) == {w.d("a"), w.d("c"), w.d("mx.hosting")}

    snd = w.d("snd")
    for pd, raw in received.items():
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        rid = f"{day:%Y%m%d}.{pd}@{snd}"
        assert msg["From"] == f"tls-reporting@{snd}"
        assert msg["TLS-Report-Submitter"] == snd
        assert msg["TLS-Required"] == "No"
        assert msg["Subject"] == f"Report Domain: {pd} Submitter: {snd} Report-ID: <{rid}>"
        assert msg.get_content_type() == "multipart/report"
        assert msg.get_param("report-type") == "tlsrpt"
        _text, part = list(msg.iter_parts())
        assert part.get_content_type() == "application/tlsrpt+gzip"
        start = int(dt.datetime.combine(day, dt.time(), dt.UTC).timestamp())
        assert part.get_filename() == f"{snd}!{pd}!{start}!{start + 86399}.json.gz"
        obj = json.loads(gzip.decompress(part.get_content()))
        assert obj["report-id"] == rid
        assert obj["organization-name"] == snd
        assert obj["contact-info"] == f"postmaster@{snd}"
        # Valid against RFC 8460 (strict parsing), also the whole message.
        assert parse_report(raw, strict=True).report.report_id == rid
        # `postel tlsrpt parse` reads the stored message.
        f = tmp_path / f"{pd}.eml"
        f.write_bytes(raw)
        r = await asyncio.to_thread(CliRunner().invoke, cli, ["tlsrpt", "parse", str(f)])
        assert r.exit_code == 0, r.stderr
        assert json.loads(r.stdout)["report-id"] == rid
        # DKIM verifies against the test network's DNS.
        dkim_results = await verify_dkim(w.resolver, raw)
        assert [(x.result, x.domain) for x in dkim_results] == [("pass", snd)]
        auth = await verify_message(
            w.resolver,
            ip="192.0.2.1",
            helo=w.d("mail.snd"),
            mail_from=f"tls-reporting@{snd}",
            message=raw,
            hostname=w.d("mx.rpt"),
        )
        assert [x.result for x in auth.dkim] == ["pass"]

    # The host report: rows of both recipient domains, policy domain rewritten.
    host = parse_report(received[w.d("mx.hosting")], strict=True).report
    assert sorted((p.policy.policy_domain, tuple(p.policy.mx_hosts)) for p in host.policies) == [
        (w.d("a"), (w.d("mx.hosting"),)),
        (w.d("c"), (w.d("mx.hosting"),)),
    ]
    c_rep = parse_report(received[w.d("c")], strict=True).report
    assert sorted(p.policy.policy_domain for p in c_rep.policies) == [
        w.d("c"),
        w.d("mx.c"),
        w.d("mx.hosting"),
    ]
    assert {
        m["To"]
        for m in (
            email.message_from_bytes(x, policy=email.policy.default) for x in received.values()
        )
    } == {
        f"tlsrpt@{w.d('rpt')}",
        f"hostrpt@{w.d('rpt')}",
    }

    # The HTTPS POSTs.
    posts = {line.split()[1]: (headers, body) for line, headers, body in w.post.requests}
    assert set(posts) == {"/a", "/host"}
    for path, pd in (("/a", w.d("a")), ("/host", w.d("mx.hosting"))):
        headers, body = posts[path]
        assert headers["content-type"] == "application/tlsrpt+gzip"
        assert headers["host"] == f"{w.d('post.rpt')}:{w.post.port}"
        rep = parse_report(body, strict=True).report
        assert rep.report_id == f"{day:%Y%m%d}.{pd}@{snd}"

    # No reports about reports: the report deliveries recorded results that ask for none.
    rdb = ResultDB.open(cfg.datadir.tlsrptresult_db)
    try:
        rows = rdb.rows()
        assert rows, "the report deliveries recorded TLS results"
        assert all(not r.send_report for r in rows)
        assert {r.recipient_domain for r in rows} == {w.d("rpt")}
    finally:
        rdb.close()
    store.close()
