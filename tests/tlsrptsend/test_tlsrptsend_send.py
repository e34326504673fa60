"""A sending run over a recorded day: recipients, marks, cleanup, DNS errors,
all-success, suppression and bounce counting (docs/tls-reporting.md)."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import gzip
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from tlsrptsend_data import DAY, DURING, NEXT_RUN, record_day

from postel.auth import DKIMSigner, public_key_record, verify_dkim
from postel.dns import TemporaryError
from postel.dns.mock import MockResolver
from postel.tlsrpt import parse_report
from postel.tlsrptresultdb import ResultDB
from postel.tlsrptsend.errors import ReportDeliveryError
from postel.tlsrptsend.send import Outcome, ReportSender, Settings

KEY = ed25519.Ed25519PrivateKey.generate()

RECORDS: dict[tuple[str, str], list[str] | TemporaryError] = {
    ("_smtp._tls.a.example", "TXT"): [
        '"v=TLSRPTv1; rua=mailto:tls@a.example,https://r.a.example/x"'
    ],
    ("_smtp._tls.b.example", "TXT"): ['"v=TLSRPTv1; rua=mailto:tls@b.example"'],
    ("_smtp._tls.c.example", "TXT"): ['"v=TLSRPTv1; rua=mailto:reports@hosting.example"'],
    ("_smtp._tls.mx.hosting.example", "TXT"): ['"v=TLSRPTv1;rua=mailto:reports@hosting.example"'],
    # mx.c.example: no record.
    ("sel._domainkey.example.org", "TXT"): [f'"{public_key_record(KEY)}"'],
}


class Fakes:
    def __init__(self) -> None:
        self.mails: list[tuple[str, str, bytes]] = []
        self.posts: list[tuple[str, bytes]] = []
        self.post_error: ReportDeliveryError | None = None
        self.sleeps: list[float] = []

    async def enqueue(self, mail_from: str, rcpt: str, message: bytes) -> None:
        self.mails.append((mail_from, rcpt, message))

    async def post(self, uri: str, body: bytes) -> None:
        if self.post_error is not None:
            raise self.post_error
        self.posts.append((uri, body))

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


@pytest.fixture()
def db(tmp_path: Path) -> ResultDB:
    d = ResultDB.open(tmp_path / "r.db")
    record_day(d)
    return d


@pytest.fixture()
def fakes() -> Fakes:
    return Fakes()


def make(
    db: ResultDB,
    fakes: Fakes,
    *,
    records: dict[tuple[str, str], list[str] | TemporaryError] | None = None,
    all_success: bool = False,
    disabled: bool = False,
    now: dt.datetime = NEXT_RUN,
    spread: bool = False,
) -> ReportSender:
    return ReportSender(
        db,
        MockResolver(dict(RECORDS if records is None else records)),
        Settings(
            hostname="mail.example.org",
            dkim_domains=["example.org"],
            sender_localpart="tlsreports",
            all_success=all_success,
            disabled=disabled,
        ),
        signer_for=lambda d: DKIMSigner.from_keys(d, {"sel": KEY}),
        enqueue=fakes.enqueue,
        post=fakes.post,
        now=lambda: now,
        sleep=fakes.sleep,
        spread=spread,
    )


def statuses(outcomes: list[Outcome]) -> dict[str, str]:
    return {o.policy_domain: o.status for o in outcomes}


async def test_run_sends_marks_and_cleans_up(db: ResultDB, fakes: Fakes) -> None:
    outcomes = await make(db, fakes).run()
    assert statuses(outcomes) == {
        "a.example": "sent",
        "b.example": "no-failures",
        "c.example": "sent",
        "mx.c.example": "no-record",
        # c.example's rows went to the same address already; a.example's host
        # row has no failure.
        "mx.hosting.example": "no-failures",
    }
    assert sorted(r for _f, r, _m in fakes.mails) == ["reports@hosting.example", "tls@a.example"]
    assert {f for f, _r, _m in fakes.mails} == {"tlsreports@example.org"}
    assert [u for u, _b in fakes.posts] == ["https://r.a.example/x"]
    c = next(o for o in outcomes if o.policy_domain == "c.example")
    assert c.report is not None
    assert sorted(p.policy.policy_domain for p in c.report.report.policies) == [
        "c.example",
        "mx.c.example",
        "mx.hosting.example",
    ]
    assert db.rows() == []  # every row is cleaned up


async def test_host_report_to_mx_domain(db: ResultDB, fakes: Fakes) -> None:
    outcomes = await make(db, fakes, all_success=True).run()
    host = next(o for o in outcomes if o.policy_domain == "mx.hosting.example")
    assert host.status == "sent"
    assert host.report is not None
    # Only a.example's row: c.example's went to reports@hosting.example already.
    pols = host.report.report.policies
    assert [(p.policy.policy_domain, p.policy.mx_hosts) for p in pols] == [
        ("a.example", ["mx.hosting.example"])
    ]
    to_hosting = [m for _f, r, m in fakes.mails if r == "reports@hosting.example"]
    assert len(to_hosting) == 2
    subjects = sorted(
        email.message_from_bytes(m, policy=email.policy.default)["TLS-Report-Domain"]
        for m in to_hosting
    )
    assert subjects == ["c.example", "mx.hosting.example"]
    assert db.rows() == []


async def test_messages_are_reports_and_dkim_signed(db: ResultDB, fakes: Fakes) -> None:
    await make(db, fakes).run()
    resolver = MockResolver(dict(RECORDS))
    for _f, rcpt, raw in fakes.mails:
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        assert msg["To"] == rcpt
        assert msg["TLS-Required"] == "No"
        parsed = parse_report(raw, strict=True)
        assert parsed.report.report_id.startswith("20260314.")
        assert msg["TLS-Report-Domain"] == parsed.report.report_id.split(".", 1)[1].split("@")[0]
        results = await verify_dkim(resolver, raw)
        assert [r.result for r in results] == ["pass"]
    _uri, body = fakes.posts[0]
    assert json.loads(gzip.decompress(body))["report-id"] == "20260314.a.example@example.org"


async def test_all_success_reports_when_configured(db: ResultDB, fakes: Fakes) -> None:
    outcomes = await make(db, fakes, all_success=True).run()
    assert statuses(outcomes)["b.example"] == "sent"
    assert "tls@b.example" in {r for _f, r, _m in fakes.mails}


async def test_temporary_dns_error_keeps_rows(db: ResultDB, fakes: Fakes) -> None:
    records = dict(RECORDS)
    records[("_smtp._tls.c.example", "TXT")] = TemporaryError("SERVFAIL")
    outcomes = await make(db, fakes, records=records).run()
    assert statuses(outcomes)["c.example"] == "temporary-dns-error"
    kept = db.rows()
    # c.example's rows stay, also its host rows; everything else is gone.
    assert {(r.policy_domain, r.recipient_domain) for r in kept} == {
        ("c.example", "c.example"),
        ("mx.c.example", "c.example"),
        ("mx.hosting.example", "c.example"),
    }
    # mx.hosting.example's report went out with the rows of c.example's MX too
    # (not yet sent to the recipient domain); they are marked and not repeated.
    host_row = next(r for r in kept if r.policy_domain == "mx.hosting.example")
    assert host_row.sent_to_policy_domain
    fakes.mails.clear()
    outcomes = await make(db, fakes).run()
    assert statuses(outcomes) == {
        "c.example": "sent",
        "mx.c.example": "no-record",
        "mx.hosting.example": "nothing-new",
    }
    assert [r for _f, r, _m in fakes.mails] == ["reports@hosting.example"]
    assert db.rows() == []


async def test_keys_without_send_report_are_deleted_unsent(tmp_path: Path, fakes: Fakes) -> None:
    db = ResultDB.open(tmp_path / "r.db")
    record_day(db, send_report=False)
    outcomes = await make(db, fakes).run()
    assert set(statuses(outcomes).values()) == {"not-requested"}
    assert fakes.mails == [] and fakes.posts == []
    assert db.rows() == []


async def test_rerun_after_marks_sends_nothing_twice(db: ResultDB, fakes: Fakes) -> None:
    sender = make(db, fakes)
    # A crash after the reports went out but before the cleanup: marks remain.
    original = sender._cleanup
    sender._cleanup = lambda *a: None  # type: ignore[method-assign]
    await sender.run()
    sent = len(fakes.mails)
    sender._cleanup = original  # type: ignore[method-assign]
    outcomes = await sender.run()
    assert len(fakes.mails) == sent
    assert {o.status for o in outcomes} <= {"nothing-new", "no-failures", "no-record"}
    assert db.rows() == []


async def test_dry_run_changes_nothing(db: ResultDB, fakes: Fakes) -> None:
    before = db.rows()
    outcomes = await make(db, fakes).send_day(DAY, dry_run=True)
    assert statuses(outcomes)["a.example"] == "would-send"
    a = next(o for o in outcomes if o.policy_domain == "a.example")
    assert a.mailto == ["tls@a.example"] and a.https == ["https://r.a.example/x"]
    d = a.to_dict()
    assert d["report"]["report-id"] == "20260314.a.example@example.org"
    assert d["filename"].endswith(".json.gz")
    assert fakes.mails == [] and fakes.posts == []
    assert db.rows() == before


async def test_suppressed_addresses_get_nothing(db: ResultDB, fakes: Fakes) -> None:
    db.suppress("TLS@a.example", NEXT_RUN + dt.timedelta(days=1), "test")
    db.suppress("https://r.a.example/x", NEXT_RUN + dt.timedelta(days=1), "test")
    db.suppress("reports@hosting.example", NEXT_RUN - dt.timedelta(seconds=1), "expired")
    outcomes = await make(db, fakes).run()
    a = next(o for o in outcomes if o.policy_domain == "a.example")
    assert a.status == "suppressed"
    assert a.suppressed == ["tls@a.example", "https://r.a.example/x"]
    assert "tls@a.example" not in {r for _f, r, _m in fakes.mails}
    assert "reports@hosting.example" in {r for _f, r, _m in fakes.mails}
    assert fakes.posts == []


async def test_failed_posts_suppress_after_repeats(tmp_path: Path, fakes: Fakes) -> None:
    fakes.post_error = ReportDeliveryError("HTTP 500", uri="https://r.a.example/x", permanent=False)
    db = ResultDB.open(tmp_path / "r.db")
    for n in range(3):
        day = DURING + dt.timedelta(days=n)
        record_day(db, now=day)
        await make(db, fakes, now=day + dt.timedelta(hours=13)).run()
        assert db.is_suppressed("https://r.a.example/x", day) == (n == 2)
    (entry,) = [s for s in db.suppressions() if s[0] == "https://r.a.example/x"]
    assert entry[3] is False and "automatic" in entry[2]
    # A report that gets through resets the count.
    db.unsuppress("https://r.a.example/x")
    fakes.post_error = None
    record_day(db, now=DURING + dt.timedelta(days=5))
    await make(db, fakes, now=DURING + dt.timedelta(days=5, hours=13)).run()
    assert db.conn.execute("SELECT count(*) FROM bounce").fetchone()[0] == 0


async def test_run_deletes_expired_and_skips_today(db: ResultDB, fakes: Fakes) -> None:
    record_day(db, now=NEXT_RUN)  # results of "today": not reported yet
    outcomes = await make(db, fakes).run()
    assert {o.day for o in outcomes} == {DAY}
    assert {r.day for r in db.rows()} == {NEXT_RUN.date()}
    # 60 h after the end of a day its rows are gone, reported or not.
    late = dt.datetime.combine(NEXT_RUN.date() + dt.timedelta(days=1), dt.time(), dt.UTC)
    await make(db, fakes, now=late + dt.timedelta(hours=60, seconds=1)).run()
    assert db.rows() == []


async def test_disabled_does_nothing(db: ResultDB, fakes: Fakes) -> None:
    assert await make(db, fakes, disabled=True).run() == []
    assert len(db.rows()) > 0 and fakes.mails == []


async def test_no_submitter_domain(db: ResultDB, fakes: Fakes) -> None:
    sender = make(db, fakes)
    sender.settings.dkim_domains = []
    outcomes = await sender.run()
    assert {o.status for o in outcomes} == {"no-submitter"}
    assert fakes.mails == [] and db.rows() == []


async def test_reports_spread_over_time(db: ResultDB, fakes: Fakes) -> None:
    await make(db, fakes, spread=True).run()
    # Five keys asked for a report: 4 h / 5 is more than 5 min, so 5 min gaps,
    # one after each report sent (a.example, c.example) before the next key.
    assert fakes.sleeps == [300.0, 300.0]


async def test_queue_failure_is_reported(db: ResultDB, fakes: Fakes) -> None:
    async def broken(mail_from: str, rcpt: str, message: bytes) -> None:
        raise OSError("disk full")

    sender = make(db, fakes)
    sender.enqueue = broken
    outcomes = await sender.run()
    c = next(o for o in outcomes if o.policy_domain == "c.example")
    assert c.status == "failed"
    assert "disk full" in c.failed["mailto:reports@hosting.example"]
