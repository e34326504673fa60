"""What others report about us: findings from received TLS and
DMARC reports, the daily digest, delivered once per day."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
from pathlib import Path

import pytest

from postel import dmarcdb, tlsrptdb
from postel.dmarcrpt import parse_report as parse_dmarc
from postel.reportfindings import OwnNames, Settings, anchor
from postel.reportfindings.digest import digest_message, digest_text
from postel.reportfindings.findings import (
    SECTION_MTASTS,
    SECTION_SPF,
    SECTION_STARTTLS,
    SECTION_TLSA,
    FailingRow,
    Findings,
    dmarc_findings,
    tls_findings,
)
from postel.reportfindings.service import DigestSender, local_deliver
from postel.store import Store
from postel.tlsrpt import parse_report as parse_tlsrpt

OURS = OwnNames.of(["example.org", "example.net"], ["mail.example.org."])
NOW = dt.datetime(2026, 12, 6, 0, 5, tzinfo=dt.UTC)


def tls_report(org: str, policies: list[dict[str, object]], rid: str = "r1") -> dict[str, object]:
    return {
        "organization-name": org,
        "date-range": {
            "start-datetime": "2026-12-04T00:00:00Z",
            "end-datetime": "2026-12-04T23:59:59Z",
        },
        "contact-info": "tls@reporter.example",
        "report-id": rid,
        "policies": policies,
    }


def policy(kind: str, domain: str, ok: int, failed: int, *details: str) -> dict[str, object]:
    return {
        "policy": {"policy-type": kind, "policy-string": [], "policy-domain": domain},
        "summary": {
            "total-successful-session-count": ok,
            "total-failure-session-count": failed,
        },
        "failure-details": [
            {"result-type": d.split(":")[0], "failed-session-count": failed}
            | ({"failure-reason-code": d.split(":")[1]} if ":" in d else {})
            for d in details
        ],
    }


def test_tls_failures_on_our_policies_only() -> None:
    report = tls_report(
        "Reporter",
        [
            policy("sts", "example.org", 10, 3, "sts-policy-fetch-error"),
            policy("tlsa", "mail.example.org", 10, 2, "validation-failure:dane-no-match"),
            policy("no-policy-found", "example.net", 5, 0),  # no failure
            policy("sts", "other.example", 0, 9, "certificate-expired"),  # not ours
            policy("no-policy-found", "example.net", 0, 1, "certificate-not-trusted"),
        ],
    )
    found = tls_findings(7, "Reporter", "2026-12-04", report, OURS)
    assert [(f.policy_type, f.policy_domain, f.failures, f.check_domain, f.section)
            for f in found] == [
        ("sts", "example.org", 3, "example.org", SECTION_MTASTS),
        ("tlsa", "mail.example.org", 2, "example.net", SECTION_TLSA),  # the MX host
        ("no-policy-found", "example.net", 1, "example.net", SECTION_STARTTLS),
    ]  # fmt: skip
    assert found[1].results == ("validation-failure (dane-no-match)",)
    assert all(f.report == 7 for f in found)


def test_tls_findings_survive_malformed_report_json() -> None:
    for bad in ({}, {"policies": "x"}, {"policies": [1, {"policy": 3, "summary": []}]}):
        assert tls_findings(1, "o", "d", bad, OURS) == []


def test_dmarc_failures_from_unknown_sources_grouped() -> None:
    known = [ipaddress.ip_network("192.0.2.0/24")]
    rows = [
        FailingRow(1, "Google", "example.org", "2026-12-03", "203.0.113.5", 4, "none"),
        FailingRow(2, "Yahoo", "example.org", "2026-12-04", "203.0.113.5", 2, "quarantine"),
        FailingRow(2, "Yahoo", "example.org", "2026-12-04", "192.0.2.10", 50, "none"),  # ours
        FailingRow(3, "Google", "other.example", "2026-12-04", "203.0.113.9", 9, "none"),
        FailingRow(3, "Google", "EXAMPLE.NET.", "2026-12-04", "198.51.100.1", 7, "reject"),
    ]
    found = dmarc_findings(rows, OURS, known)
    assert [(f.domain, f.source_ip, f.messages) for f in found] == [
        ("example.net", "198.51.100.1", 7),
        ("example.org", "203.0.113.5", 6),
    ]
    org = found[1]
    assert org.organizations == ("Google", "Yahoo") and org.reports == (1, 2)
    assert (org.first_day, org.last_day) == ("2026-12-03", "2026-12-04")
    assert org.dispositions == ("none", "quarantine") and org.section == SECTION_SPF


def test_anchor_matches_dnscheck_sections() -> None:
    assert anchor("TLSA (DANE)") == "tlsa-dane" and anchor("MTA-STS") == "mta-sts"


def test_digest_text_names_the_pages_and_cleans_report_values() -> None:
    found = Findings(
        tls=tls_findings(
            3, "Evil\r\nSubject: x", "2026-12-04",
            tls_report("o", [policy("sts", "example.org", 0, 2, "sts-webpki-invalid")]), OURS,
        ),
        dmarc=dmarc_findings(
            [FailingRow(9, "Google", "example.org", "2026-12-04", "203.0.113.5", 4, "none")],
            OURS, [],
        ),
    )  # fmt: skip
    text = digest_text(found, dt.date(2026, 12, 5))
    assert "Evil  Subject: x: 2 failed session(s) on the sts policy of example.org" in text
    assert "/admin/tlsrpt/3" in text and "/admin/domains/example.org/check#mta-sts" in text
    assert "example.org: 4 message(s) from 203.0.113.5, reported by Google" in text
    assert "/admin/dmarc/9" in text and "/admin/domains/example.org/check#spf" in text
    message = digest_message(
        found, dt.date(2026, 12, 5), mail_from="postmaster@mail.example.org",
        rcpt="admin@example.org", hostname="mail.example.org", now=NOW,
    )  # fmt: skip
    head = message.split(b"\r\n\r\n", 1)[0].decode()
    assert "Subject: Problems others reported on 2026-12-05" in head
    assert "Auto-Submitted: auto-generated" in head and "To: <admin@example.org>" in head
    assert "\nSubject:" not in message.split(b"\r\n\r\n", 1)[1].decode()


def _settings(digest_to: str = "") -> Settings:
    return Settings(
        ours=OURS, known=(), hostname="mail.example.org", digest_to=digest_to,
        postmaster_account="alice", postmaster_mailbox="Postmaster", sender_localpart="postmaster",
    )  # fmt: skip


def _store_reports(tmp_path: Path, received: dt.datetime) -> None:
    raw = tls_report("Reporter", [policy("tlsa", "mail.example.org", 1, 4, "dane-required")])
    report = parse_tlsrpt(json.dumps(raw).encode()).report
    with tlsrptdb.open(tmp_path / "tlsrpt.db") as db:
        db.add(report, kind="host", received=received)
    with dmarcdb.open(tmp_path / "dmarcrpt.db"):
        pass


async def test_digest_is_sent_once_for_the_previous_day(tmp_path: Path) -> None:
    _store_reports(tmp_path, NOW - dt.timedelta(hours=12))  # yesterday, 12:05
    sent: list[tuple[str, bytes]] = []

    async def deliver(rcpt: str, message: bytes) -> None:
        sent.append((rcpt, message))

    marker = tmp_path / "findings-digest.day"
    sender = DigestSender(
        _settings(), tmp_path / "tlsrpt.db", tmp_path / "dmarcrpt.db", marker, deliver,
        now=lambda: NOW,
    )  # fmt: skip
    found = await sender.run()
    assert found is not None and len(found.tls) == 1
    [(rcpt, message)] = sent
    assert rcpt == "" and b"To: <postmaster@mail.example.org>" in message
    assert b"4 failed session(s) on the tlsa policy of mail.example.org" in message
    assert marker.read_text() == "2026-12-05\n"
    assert await sender.run() is None and len(sent) == 1  # once a day, also after a restart


async def test_no_mail_for_a_day_without_findings_or_when_switched_off(tmp_path: Path) -> None:
    _store_reports(tmp_path, NOW - dt.timedelta(days=3))  # received before yesterday
    sent: list[bytes] = []

    async def deliver(rcpt: str, message: bytes) -> None:
        sent.append(message)

    marker = tmp_path / "m"
    sender = DigestSender(
        _settings(), tmp_path / "tlsrpt.db", tmp_path / "dmarcrpt.db", marker, deliver,
        now=lambda: NOW,
    )  # fmt: skip
    assert not await sender.run() and sent == [] and marker.exists()
    _store_reports(tmp_path, NOW - dt.timedelta(hours=2))
    off = DigestSender(
        _settings("-"), tmp_path / "tlsrpt.db", tmp_path / "dmarcrpt.db", tmp_path / "m2",
        deliver, now=lambda: NOW,
    )  # fmt: skip
    assert await off.run() is None and sent == []


async def test_local_delivery_lands_in_the_postmaster_mailbox(tmp_path: Path) -> None:
    from postel.datadir import DataDir

    dd = DataDir(tmp_path / "data")
    dd.ensure()
    store = Store(dd)
    try:
        deliver = local_deliver(store, _settings())
        await deliver("", b"Subject: digest\r\n\r\nbody\r\n")
        account = store.account("alice")
        [msg] = account.list_messages("Postmaster")
        assert account.message_path(msg.msgid).read_bytes().startswith(b"Subject: digest")
    finally:
        store.close()


def test_dmarc_testdata_report_from_unknown_source(tmp_path: Path) -> None:
    testdata = Path(__file__).resolve().parents[2] / ".." / "shared" / "testdata" / "dmarc"
    path = testdata / "example.net!example.com!1529366400!1529452799.xml"
    report = parse_dmarc(path.read_bytes()).report
    with dmarcdb.open(tmp_path / "d.db") as db:
        db.add(report)
        rows = db.failing_records()
    expected = sum(
        r.row.count
        for r in report.records
        if r.row.policy_evaluated.dkim != "pass" and r.row.policy_evaluated.spf != "pass"
    )
    assert sum(r.count for r in rows) == expected
    ours = OwnNames.of([report.policy_published.domain], [])
    flagged = dmarc_findings(
        [FailingRow(r.report, r.organization, r.domain, r.day, r.source_ip, r.count,
                    r.disposition) for r in rows], ours, [],
    )  # fmt: skip
    assert sum(f.messages for f in flagged) == expected


@pytest.mark.parametrize("received", ["2026-12-05T00:00:00Z", "2026-12-05T23:59:59.999999Z"])
def test_day_window_bounds(received: str) -> None:
    from postel.reportfindings.service import day_window

    since, until = day_window(dt.date(2026, 12, 5))
    assert since <= received < until
