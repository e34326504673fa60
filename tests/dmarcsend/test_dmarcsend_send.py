"""One sending run: destinations, ri=, suppression, size limits, report mail;
on each backend of the evaluations (the ``evaldb`` fixture)."""

from __future__ import annotations

import datetime as dt

from dmarcsend_data import DAY, NEXT_RUN, ev, sender

from postel.dmarcevaldb.api import Evaluations
from postel.dmarcrpt import parse_report
from postel.dns import TemporaryError
from postel.dns.mock import MockResolver

RECORD = '"v=DMARC1; p=reject; rua=mailto:agg@sender.example"'


async def test_sends_one_report_per_policy_domain_and_deletes(evaldb: Evaluations) -> None:
    r = MockResolver({("_dmarc.sender.example", "TXT"): [RECORD]})
    s, db, cap = sender(evaldb, r)
    db.add([ev(), ev(), ev(ip="192.0.2.7", dkim="fail", spf="fail", disposition="reject")])
    (o,) = await s.run()
    assert o.status == "sent", o.detail
    assert [rcpt for _f, rcpt, _m in cap.sent] == ["agg@sender.example"]
    mail_from, _rcpt, msg = cap.sent[0]
    assert mail_from == "postmaster@receiver.example"
    assert parse_report(msg, strict=True).report.message_count() == 3
    assert db.evaluations() == []
    assert db.last_report_end("sender.example") == dt.datetime(2026, 3, 15, tzinfo=dt.UTC)


async def test_today_is_not_reported(evaldb: Evaluations) -> None:
    r = MockResolver({("_dmarc.sender.example", "TXT"): [RECORD]})
    s, db, _cap = sender(evaldb, r)
    db.add([ev(when=NEXT_RUN)])
    assert await s.run() == []
    assert len(db.evaluations()) == 1


async def test_only_report_mail_gets_no_report(evaldb: Evaluations) -> None:
    r = MockResolver({("_dmarc.sender.example", "TXT"): [RECORD]})
    s, db, cap = sender(evaldb, r)
    db.add([ev(optional=True)])
    (o,) = await s.run()
    assert o.status == "only-report-mail" and cap.sent == []
    db.add([ev(optional=True), ev()])  # along with other mail it is reported
    (o,) = await s.run()
    assert o.status == "sent"
    assert parse_report(cap.sent[0][2]).report.message_count() == 2


async def test_external_destination_must_agree(evaldb: Evaluations) -> None:
    r = MockResolver(
        {
            ("_dmarc.sender.example", "TXT"): [
                '"v=DMARC1; p=none; rua=mailto:a@collector.example,mailto:b@other.example"'
            ],
            ("sender.example._report._dmarc.collector.example", "TXT"): ['"v=DMARC1;"'],
        }
    )
    s, db, _cap = sender(evaldb, r)
    db.add([ev()])
    (o,) = await s.run()
    assert o.delivered == ["mailto:a@collector.example"]
    assert o.unverified == ["mailto:b@other.example"]


async def test_size_limit_and_suppression(evaldb: Evaluations) -> None:
    r = MockResolver(
        {
            ("_dmarc.sender.example", "TXT"): [
                '"v=DMARC1; p=none; rua=mailto:small@sender.example!1k,'
                'mailto:gone@sender.example,mailto:ok@sender.example!1m"'
            ]
        }
    )
    s, db, cap = sender(evaldb, r)
    db.suppress("gone@sender.example", NEXT_RUN + dt.timedelta(days=1))
    db.add([ev(ip=f"192.0.2.{i}") for i in range(1, 60)])
    (o,) = await s.run()
    assert o.too_large == ["mailto:small@sender.example"]
    assert o.suppressed == ["mailto:gone@sender.example"]
    assert [c[1] for c in cap.sent] == ["ok@sender.example"]
    assert len(cap.sent[0][2]) > 1024


async def test_interval_longer_than_a_day_collects_days(evaldb: Evaluations) -> None:
    rec = '"v=DMARC1; p=none; ri=172800; rua=mailto:agg@sender.example"'
    r = MockResolver({("_dmarc.sender.example", "TXT"): [rec]})
    s, db, cap = sender(evaldb, r)
    db.add([ev()])
    (o,) = await s.run()
    assert o.status == "sent"
    day2 = dt.datetime(2026, 3, 15, 12, tzinfo=dt.UTC)
    day3 = dt.datetime(2026, 3, 16, 12, tzinfo=dt.UTC)
    db.add([ev(when=day2)])
    s.now = lambda: day2 + dt.timedelta(hours=12, minutes=5)
    (o,) = await s.run()
    assert o.status == "interval-not-reached" and len(cap.sent) == 1
    db.add([ev(when=day3)])
    s.now = lambda: day3 + dt.timedelta(hours=12, minutes=5)
    (o,) = await s.run()
    assert o.status == "sent"
    rep = parse_report(cap.sent[1][2]).report
    assert rep.message_count() == 2
    begin = int(dt.datetime(2026, 3, 15, tzinfo=dt.UTC).timestamp())
    assert (rep.metadata.date_range.begin, rep.metadata.date_range.end) == (
        begin,
        begin + 2 * 86400 - 1,
    )


async def test_temporary_dns_error_keeps_evaluations(evaldb: Evaluations) -> None:
    r = MockResolver({("_dmarc.sender.example", "TXT"): TemporaryError("SERVFAIL")})
    s, db, _cap = sender(evaldb, r)
    db.add([ev()])
    (o,) = await s.run()
    assert o.status == "temporary-dns-error"
    assert len(db.evaluations()) == 1


async def test_no_record_any_more_drops_evaluations(evaldb: Evaluations) -> None:
    s, db, cap = sender(evaldb, MockResolver({}))
    db.add([ev()])
    (o,) = await s.run()
    assert o.status == "no-record" and db.evaluations() == [] and cap.sent == []


async def test_dry_run_changes_nothing(evaldb: Evaluations) -> None:
    r = MockResolver({("_dmarc.sender.example", "TXT"): [RECORD]})
    s, db, cap = sender(evaldb, r)
    db.add([ev()])
    (o,) = await s.send_day(DAY, dry_run=True)
    assert o.status == "would-send" and cap.sent == []
    assert len(db.evaluations()) == 1 and db.last_report_end("sender.example") is None
