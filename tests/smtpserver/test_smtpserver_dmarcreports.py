"""DMARC aggregate reports end to end: messages delivered over SMTP to a running
SMTPService are recorded as DMARC evaluations; the daily send builds the
report and queues it; the queued message is read back with postel's own
parser (dmarcrpt) and with parsedmarc (RFC 7489 §7.2, RFC 9990)."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import smtplib
from contextlib import ExitStack
from email import message_from_bytes
from email.message import Message

import parsedmarc  # type: ignore[import-untyped]
from cryptography.hazmat.primitives import serialization
from smtpserver_env import Env, run

from postel.auth.dkim_verify import verify_dkim
from postel.dmarcevaldb import EvalDB
from postel.dmarcrpt import parse_report
from postel.dmarcsend.service import QueueEnqueue, make_sender
from postel.queue import QueueDB
from postel.tlsrptsend.service import adding_submitter


def _msg(sender: str, n: int) -> bytes:
    return (
        f"From: <{sender}>\r\nTo: alice@example.org\r\nSubject: m{n}\r\n"
        f"Message-ID: <{n}@x>\r\n\r\nhello {n}\r\n"
    ).encode()


def _setup_dns(env: Env) -> None:
    r = env.resolver
    # sender.test passes SPF (127.0.0.1): reports to its own domain and to a
    # collector that agreed to take them (RFC 7489 §7.1), and to one that did not.
    r.set(
        "_dmarc.sender.test",
        "TXT",
        [
            '"v=DMARC1; p=quarantine; sp=none; rua=mailto:dmarc@sender.test,'
            'mailto:agg@collector.test!10m,mailto:agg@refuser.test"'
        ],
    )
    r.set("sender.test._report._dmarc.collector.test", "TXT", ['"v=DMARC1"'])
    # strict.test fails SPF and has p=reject: the rejected message is reported too.
    r.set("_dmarc.strict.test", "TXT", ['"v=DMARC1; p=reject; rua=mailto:d@strict.test"'])


async def _send(env: Env, mail_from: str, header_from: str, n: int) -> int:
    def go() -> int:
        with env.smtp() as c:
            try:
                c.sendmail(mail_from, ["alice@example.org"], _msg(header_from, n))
            except smtplib.SMTPDataError as e:
                return int(e.smtp_code)
            return 250

    return await run(go)


def _attachment(msg: Message) -> bytes:
    for part in msg.walk():
        if part.get_content_type() == "application/gzip":
            data = part.get_payload(decode=True)
            assert isinstance(data, bytes)
            return data
    raise AssertionError("no application/gzip part")


async def test_reports_from_smtp_deliveries(env: Env) -> None:
    _setup_dns(env)
    codes = [await _send(env, "a@sender.test", "a@sender.test", i) for i in range(3)]
    codes.append(await _send(env, "b@sub.sender.test", "b@sub.sender.test", 3))
    codes.append(await _send(env, "x@strict.test", "x@strict.test", 4))
    # No DMARC record with rua: nothing recorded.
    codes.append(await _send(env, "q@quarantine.test", "q@quarantine.test", 5))
    assert codes == [250, 250, 250, 250, 550, 250]
    assert env.service.ctx.evaluations is not None
    await run(env.service.ctx.evaluations.flush)

    db = EvalDB.open(env.cfg.datadir.dmarceval_db)
    try:
        evs = db.evaluations()
        assert sorted({e.policy_domain for e in evs}) == ["sender.test", "strict.test"]
        assert len(evs) == 5
        strict = [e for e in evs if e.policy_domain == "strict.test"]
        assert strict[0].disposition == "reject" and strict[0].spf_aligned == "fail"
        today = evs[0].day
        closing = ExitStack()
        submitter = adding_submitter(env.cfg, closing)
        sender = make_sender(
            env.cfg, db, env.resolver, enqueue=QueueEnqueue(submitter, env.cfg.datadir.tmp)
        )
        sender.now = lambda: dt.datetime.combine(
            today + dt.timedelta(days=1), dt.time(0, 5), dt.UTC
        )
        dry = await sender.send_day(today, dry_run=True)
        assert [o.status for o in dry] == ["would-send", "would-send"]
        assert len(db.evaluations()) == 5  # a dry run changes nothing
        outcomes = {o.policy_domain: o for o in await sender.run()}
        closing.close()
        assert db.evaluations() == []
    finally:
        db.close()

    o = outcomes["sender.test"]
    assert o.status == "sent"
    assert o.delivered == ["mailto:dmarc@sender.test", "mailto:agg@collector.test"]
    assert o.unverified == ["mailto:agg@refuser.test"]
    assert outcomes["strict.test"].delivered == ["mailto:d@strict.test"]

    qdb = QueueDB.open(env.cfg.datadir)
    try:
        entries = qdb.entries()
        by_rcpt = {e.rcpt: e for e in entries}
        assert set(by_rcpt) == {"dmarc@sender.test", "agg@collector.test", "d@strict.test"}
        assert all(e.msg.is_dmarc_report for e in entries)
        raw = qdb.msg_path(by_rcpt["agg@collector.test"].msg.id).read_bytes()
        raw_strict = qdb.msg_path(by_rcpt["d@strict.test"].msg.id).read_bytes()
    finally:
        qdb.close()

    msg = message_from_bytes(raw)
    # DKIM-signed by the submitter domain, and the signature verifies.
    key = serialization.load_pem_private_key(env.cfg.path("dkim-s1.pem").read_bytes(), None)
    public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    env.resolver.set(
        "s1._domainkey.example.org",
        "TXT",
        [f'"v=DKIM1; k=ed25519; p={base64.b64encode(public).decode()}"'],
    )
    [dkim] = await verify_dkim(env.resolver, raw, timeout=10)
    assert (dkim.result, dkim.domain, dkim.selector) == ("pass", "example.org", "s1")
    assert msg["From"] == "<postmaster@example.org>"
    subject = " ".join(str(msg["Subject"]).split())
    assert subject.startswith("Report Domain: sender.test Submitter: example.org Report-ID: <")
    gz = _attachment(msg)
    begin = int(dt.datetime.combine(today, dt.time(), dt.UTC).timestamp())
    filename = f"example.org!sender.test!{begin}!{begin + 86399}.xml.gz"
    assert filename in raw.decode()

    # postel's own parser, strictly, from the whole message.
    parsed = parse_report(raw, strict=True)
    assert parsed.warnings == []
    rep = parsed.report
    assert rep.format == "rfc9990"
    assert rep.metadata.org_name == "example.org"
    assert rep.metadata.date_range.begin == begin
    assert rep.policy_published.domain == "sender.test"
    assert (rep.policy_published.p, rep.policy_published.sp) == ("quarantine", "none")
    assert rep.message_count() == 4
    by_from = {r.identifiers.header_from: r for r in rep.records}
    main = by_from["sender.test"]
    assert main.row.count == 3 and main.row.source_ip == "127.0.0.1"
    assert main.row.policy_evaluated.disposition == "none"
    assert (main.row.policy_evaluated.spf, main.row.policy_evaluated.dkim) == ("pass", "fail")
    assert main.identifiers.envelope_from == "sender.test"
    assert [(s.domain, s.scope, s.result) for s in main.auth_results.spf] == [
        ("sender.test", "mfrom", "pass")
    ]
    assert by_from["sub.sender.test"].row.count == 1
    strict_rep = parse_report(raw_strict, strict=True).report
    (srec,) = strict_rep.records
    assert srec.row.policy_evaluated.disposition == "reject"
    assert srec.row.policy_evaluated.spf == "fail"

    # parsedmarc, an independent parser, on the attachment.
    pm = parsedmarc.parse_aggregate_report_file(gz)
    assert pm["report_metadata"]["org_name"] == "example.org"
    assert pm["policy_published"]["domain"] == "sender.test"
    assert pm["policy_published"]["p"] == "quarantine"
    pm_counts = {r["identifiers"]["header_from"]: r["count"] for r in pm["records"]}
    assert pm_counts == {"sender.test": 3, "sub.sender.test": 1}
    assert gzip.decompress(gz).startswith(b"<?xml")


async def test_report_mail_to_our_report_address_is_optional(env: Env) -> None:
    _setup_dns(env)

    def go() -> None:
        with env.smtp() as c:
            c.sendmail("a@sender.test", ["dmarc@example.org"], _msg("a@sender.test", 1))
            c.sendmail("a@sender.test", ["alice@example.org"], _msg("a@sender.test", 2))

    await run(go)
    assert env.service.ctx.evaluations is not None
    await run(env.service.ctx.evaluations.flush)
    with EvalDB.open(env.cfg.datadir.dmarceval_db) as db:
        evs = db.evaluations()
    assert [e.optional for e in evs] == [True, False]
