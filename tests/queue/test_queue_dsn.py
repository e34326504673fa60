"""Delivery status notifications: content (RFC 3464), when they are (not) sent."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
from email.message import EmailMessage

import pytest
from queue_env import MESSAGE, T0, QEnv, perm, temp

from postel.delivery import DeliveryRequest, RecipientOutcome
from postel.queue import backoff
from postel.queue.dsn import DSNInput, DSNRecipient, build_dsn
from postel.tlsrptresultdb import ResultDB


def parse(data: bytes) -> EmailMessage:
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def status_groups(dsn: EmailMessage) -> list[dict[str, str]]:
    """The message/delivery-status part as field groups (per-message first)."""
    part = next(p for p in dsn.walk() if p.get_content_type().endswith("delivery-status"))
    payload = part.get_payload()
    if isinstance(payload, list):  # the email package parses it into header blocks
        return [{k.lower(): str(v) for k, v in block.items()} for block in payload]
    raw = payload if isinstance(payload, str) else bytes(payload).decode()
    groups = []
    for block in raw.replace("\r\n", "\n").strip().split("\n\n"):
        fields = {}
        for line in block.splitlines():
            k, _, v = line.partition(":")
            fields[k.strip().lower()] = v.strip()
        groups.append(fields)
    return groups


def test_build_dsn_structure() -> None:
    data = build_dsn(
        DSNInput(
            reporting_mta="mail.example.org",
            mail_from="alice@example.org",
            arrival=T0,
            original=MESSAGE,
            recipients=[
                DSNRecipient(
                    "bob@remote.test",
                    "failed",
                    "5.1.1",
                    550,
                    "5.1.1",
                    "no such user",
                    "mx.remote.test",
                    last_attempt=T0,
                ),
                DSNRecipient(
                    "carol@remote.test",
                    "failed",
                    "5.4.7",
                    451,
                    "4.4.1",
                    "timeout",
                    "mx.remote.test",
                ),
            ],
            now=T0 + dt.timedelta(hours=1),
            subject="Hello there",
            message_id="<m1@example.org>",
        )
    )
    assert data.isascii() and b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")
    dsn = parse(data)
    assert dsn.get_content_type() == "multipart/report"
    assert dsn.get_param("report-type") == "delivery-status"
    assert dsn["To"].addresses[0].addr_spec == "alice@example.org"
    assert dsn["Auto-Submitted"] == "auto-replied"
    assert "Hello there" in dsn["Subject"] and dsn["In-Reply-To"] == "<m1@example.org>"
    parts = dsn.get_payload()
    assert isinstance(parts, list)
    assert [p.get_content_type() for p in parts] == [
        "text/plain",
        "message/delivery-status",
        "text/rfc822-headers",
    ]
    assert "bob@remote.test" in parts[0].get_content()
    groups = status_groups(dsn)
    assert groups[0]["reporting-mta"] == "dns; mail.example.org"
    assert groups[0]["arrival-date"] == "Wed, 01 May 2024 12:00:00 +0000"
    assert groups[1] == {
        "final-recipient": "rfc822; bob@remote.test",
        "action": "failed",
        "status": "5.1.1",
        "remote-mta": "dns; mx.remote.test",
        "diagnostic-code": "smtp; 550 5.1.1 no such user",
        "last-attempt-date": "Wed, 01 May 2024 12:00:00 +0000",
    }
    assert groups[2]["status"] == "5.4.7"
    assert groups[2]["diagnostic-code"] == "smtp; 451 4.4.1 timeout"
    headers = parts[2].get_payload()
    text = headers if isinstance(headers, str) else str(headers)
    assert "Subject: Hello there" in text and "Hi." not in text  # header only


def test_build_dsn_for_internationalised_addresses_uses_global_types() -> None:
    data = build_dsn(
        DSNInput(
            reporting_mta="mail.example.org",
            mail_from="jürgen@example.org",
            arrival=T0,
            original="From: jürgen@example.org\r\nSubject: Grüße\r\n\r\nx".encode(),
            recipients=[DSNRecipient("δοκιμή@remote.test", "failed", "5.1.1", 550, "5.1.1", "no")],
            now=T0,
            subject="Grüße",
        )
    )
    dsn = parse(data)
    types = [p.get_content_type() for p in dsn.walk()]
    assert "message/global-delivery-status" in types and "message/global-headers" in types
    assert "utf-8; δοκιμή@remote.test" in data.decode()
    assert "Grüße" in str(dsn["Subject"])


async def test_permanent_failure_sends_dsn_to_sender_inbox(qenv: QEnv) -> None:
    qenv.deliverer.decide = perm
    q = qenv.queue()
    await q.add("alice", "alice@example.org", ["bob@remote.test"], qenv.message_file())
    await q.run_due()
    assert q.db.entries() == [] and qenv.queue_files() == []
    [data] = qenv.inbox("alice")
    dsn = parse(data)
    assert dsn.get_content_type() == "multipart/report"
    [_, rcpt] = status_groups(dsn)
    assert rcpt["final-recipient"] == "rfc822; bob@remote.test"
    assert rcpt["action"] == "failed" and rcpt["status"] == "5.1.1"
    assert rcpt["remote-mta"] == "dns; mx.remote.test"


async def test_exhausted_retries_send_failure_dsn(qenv: QEnv) -> None:
    qenv.deliverer.decide = temp
    q = qenv.queue()
    await q.add("alice", "alice@example.org", ["bob@remote.test"], qenv.message_file())
    tries = 0
    while q.db.entries():
        entry = q.db.entries()[0]
        qenv.clock.t = max(qenv.clock.t, entry.next_attempt)
        await q.run_due()
        tries += 1
        assert tries < 30
    assert qenv.clock.t == T0 + backoff.MAX_AGE
    dsns = [parse(d) for d in qenv.inbox("alice")]
    actions = [status_groups(d)[1]["action"] for d in dsns]
    assert sorted(actions) == ["delayed", "failed"]  # one delay DSN, one final
    final = next(d for d in dsns if status_groups(d)[1]["action"] == "failed")
    assert status_groups(final)[1]["status"] == "5.4.1"  # 4.4.1 given up on
    assert status_groups(final)[1]["diagnostic-code"] == "smtp; 451 4.4.1 try later"


async def test_delay_dsn_sent_once_after_four_hours(qenv: QEnv) -> None:
    qenv.deliverer.decide = temp
    q = qenv.queue()
    await q.add("alice", "alice@example.org", ["bob@remote.test"], qenv.message_file())
    while qenv.clock.t < T0 + dt.timedelta(hours=3, minutes=59):
        await q.run_due()
        qenv.clock.t = min(q.db.entries()[0].next_attempt, T0 + dt.timedelta(hours=3, minutes=59))
    await q.run_due()
    assert qenv.inbox("alice") == []
    for _ in range(3):
        qenv.clock.t = q.db.entries()[0].next_attempt
        await q.run_due()
    [data] = qenv.inbox("alice")
    groups = status_groups(parse(data))
    assert groups[1]["action"] == "delayed" and groups[1]["status"] == "4.4.1"
    assert groups[1]["will-retry-until"] == "Mon, 06 May 2024 12:00:00 +0000"
    assert q.db.entries()[0].dsn_sent_delay


async def test_no_dsn_for_null_sender(qenv: QEnv) -> None:
    qenv.deliverer.decide = perm
    q = qenv.queue()
    await q.add("alice", "", ["bob@remote.test"], qenv.message_file())
    await q.run_due()
    assert q.db.entries() == []
    assert qenv.inbox("alice") == []
    assert len(qenv.deliverer.requests) == 1  # nothing queued either


async def test_tls_report_bounce_counted_no_dsn(qenv: QEnv) -> None:
    qenv.deliverer.decide = perm
    db = ResultDB.open(qenv.cfg.datadir.tlsrptresult_db)
    try:
        q = qenv.queue(resultdb=db)
        report = b"From: postmaster@example.org\r\nTLS-Report-Domain: remote.test\r\n\r\nx\r\n"
        await q.add("", "postmaster@example.org", ["tlsrpt@remote.test"], qenv.message_file(report))
        await q.run_due()
        assert q.db.entries() == []
        assert qenv.inbox("alice") == []
        await q.stop()
        row = db.conn.execute(
            "SELECT count FROM bounce WHERE address = ?", ("tlsrpt@remote.test",)
        ).fetchone()
    finally:
        db.close()
    assert row is not None and row[0] == 1


async def test_dsn_for_forwarded_mail_is_queued_with_null_sender(qenv: QEnv) -> None:
    def decide(req: DeliveryRequest, rcpt: str) -> RecipientOutcome:
        return perm(req, rcpt) if req.mail_from else temp(req, rcpt)

    qenv.deliverer.decide = decide
    q = qenv.queue()
    await q.add("", "someone@sender.test", ["friend@remote.test"], qenv.message_file())
    await q.run_due()
    [e] = q.db.entries()
    assert e.rcpt == "someone@sender.test" and e.msg.mail_from == ""
    assert e.msg.sender_account == ""


@pytest.mark.parametrize("status", ["4.0.0", ""])
def test_expired_status_without_detail_is_5_4_7(status: str) -> None:
    from postel.queue.plan import expired_status

    assert expired_status(status) == "5.4.7"


async def test_dmarc_report_bounces_counted_then_suppressed_no_dsn(qenv: QEnv) -> None:
    from postel.dmarcevaldb import EvalDB

    qenv.deliverer.decide = perm
    q = qenv.queue()
    report = b"From: postmaster@example.org\r\nSubject: Report Domain: remote.test\r\n\r\nx\r\n"
    for _ in range(3):
        await q.add(
            "",
            "postmaster@example.org",
            ["dmarc@remote.test"],
            qenv.message_file(report),
            is_dmarc_report=True,
        )
        assert q.db.entries()[0].max_attempts == backoff.TLSRPT_MAX_ATTEMPTS
        await q.run_due()
    assert q.db.entries() == []
    assert qenv.inbox("alice") == []  # no DSN about a DMARC report
    await q.stop()
    with EvalDB.open(qenv.cfg.datadir.dmarceval_db) as db:
        assert db.is_suppressed("dmarc@remote.test")
        [(address, _until, comment, manual)] = db.suppressions()
    assert (address, manual) == ("dmarc@remote.test", False)
    assert comment == "automatic: 3 bounced reports"
