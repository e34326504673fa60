"""dmarcrpt.db: storing received DMARC aggregate reports, duplicates, listing, sums."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postel import dmarcdb
from postel.db import integrity_check
from postel.dmarcdb.api import ReceivedDMARCReports
from postel.dmarcrpt import (
    DateRange,
    Identifiers,
    PolicyEvaluated,
    PolicyPublished,
    Record,
    Report,
    ReportMetadata,
    Row,
    parse_report,
)

TESTDATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "testdata" / "dmarc"
BEGIN = 1709251200  # 2024-03-01T00:00:00Z


def make_report(
    org: str = "Org",
    rid: str = "r1",
    domain: str = "example.com",
    begin: int = BEGIN,
    rows: list[tuple[int, str, str]] | None = None,
) -> Report:
    records = [
        Record(
            Row("192.0.2.1", n, PolicyEvaluated("none", dkim, spf)),
            Identifiers(header_from=domain),
        )
        for n, dkim, spf in (rows if rows is not None else [(3, "pass", "fail")])
    ]
    return Report(
        ReportMetadata(org, "dmarc@org", rid, DateRange(begin, begin + 86399)),
        PolicyPublished(domain, "none"),
        records,
    )


def incompressible(n: int) -> str:
    """*n* characters that do not compress (a compressed index entry would fit)."""
    out = "".join(hashlib.sha256(str(i).encode()).hexdigest() for i in range(n // 64 + 1))
    return out[:n]


@pytest.fixture
def db(dmarcrptdb: ReceivedDMARCReports) -> ReceivedDMARCReports:
    """On each backend (conftest.py)."""
    return dmarcrptdb


def test_counts_by_evaluated_result() -> None:
    r = make_report(
        rows=[(3, "pass", "fail"), (2, "fail", "pass"), (4, "fail", "fail"), (1, "", "")]
    )
    assert dmarcdb.report_counts(r) == dmarcdb.Counts(
        messages=10, dkim_pass=3, dkim_fail=6, spf_pass=2, spf_fail=7, dmarc_pass=5, dmarc_fail=4
    )


@pytest.mark.parametrize(
    ("name", "org", "rid", "domain", "records", "messages"),
    [
        ("example.net!example.com!1529366400!1529452799.xml", "example.net",
         "b043f0e264cf4ea995e93765242f6dfb", "example.com", 1, 1),
        ("fastmail.com!example.com!1516060800!1516147199!102675056.xml.gz", "FastMail Pty Ltd",
         "102675056", "indemed.com", 1, 1),
        ("estadocuenta1.infonacot.gob.mx!example.com!1536853302!1536939702!2940.xml.zip",
         "XYZ Corporation", "2940", "example.com", 1, 1),
    ],
)  # fmt: skip
def test_testdata_facts_survive_storage(
    db: ReceivedDMARCReports,
    name: str,
    org: str,
    rid: str,
    domain: str,
    records: int,
    messages: int,
) -> None:
    parsed = parse_report((TESTDATA / name).read_bytes())
    added = db.add(parsed.report, warnings=parsed.warnings, to_rcpt="dmarc@" + domain)
    got = db.get(added.id)
    assert got is not None
    assert (got.organization, got.report_id, got.domain) == (org, rid, domain)
    assert (got.record_count, got.message_count) == (records, messages)
    assert got.begin == parsed.report.metadata.date_range.begin
    assert got.report_dict() == parsed.report.to_dict()


def test_duplicate_recorded_not_stored_twice(db: ReceivedDMARCReports) -> None:
    first = db.add(make_report())
    again = db.add(make_report(rows=[(100, "fail", "fail")]), message_ref="accounts/x/msg/0/2")
    assert again.duplicate and again.id == first.id
    assert db.count() == 1 and db.duplicate_count() == 1
    got = db.get(first.id)
    assert got is not None and got.duplicates == 1 and got.message_count == 3
    # Another domain with the same id is another report.
    assert not db.add(make_report(domain="other.example")).duplicate
    assert [r.domain for r in db.find("Org", "r1")] == ["example.com", "other.example"]


def test_list_and_daily_totals(db: ReceivedDMARCReports) -> None:
    db.add(make_report("A", "1", "a.example", BEGIN, [(3, "pass", "fail")]))
    db.add(make_report("B", "2", "a.example", BEGIN + 3600, [(5, "fail", "fail")]))
    db.add(make_report("A", "3", "b.example", BEGIN + 86400, [(7, "pass", "pass")]))
    page = db.list_reports(limit=2)
    assert page.total == 3 and [r.report_id for r in page.reports] == ["3", "2"]
    assert [r.report_id for r in db.list_reports(domain="A.EXAMPLE").reports] == ["2", "1"]
    days = db.daily_totals()
    assert [(d.day, d.reports, d.counts.messages) for d in days] == [
        ("2024-03-01", 2, 8),
        ("2024-03-02", 1, 7),
    ]
    assert days[0].counts == dmarcdb.Counts(8, 3, 5, 0, 8, 3, 5)
    assert db.daily_totals(domain="b.example")[0].counts.dmarc_pass == 7
    assert db.daily_totals(since="2024-03-02", until="2024-03-02")[0].day == "2024-03-02"
    orgs = db.organization_totals()
    assert [(o.organization, o.reports, o.counts.messages) for o in orgs] == [
        ("A", 2, 10),
        ("B", 1, 5),
    ]
    assert db.domains() == ["a.example", "b.example"]
    with pytest.raises(dmarcdb.DMARCDBArgumentError):
        db.list_reports(limit=100000)


def test_failing_records_in_a_window_and_delete(db: ReceivedDMARCReports) -> None:
    """Rows failing DMARC (neither DKIM nor SPF passed), newest report first;
    a deleted report takes its rows and duplicates along."""
    first = db.add(
        make_report("A", "1", rows=[(3, "pass", "fail"), (2, "fail", "FAIL")]),
        received=datetime(2024, 3, 2, 1, tzinfo=UTC),
    ).id
    second = db.add(
        make_report("B", "2", begin=BEGIN + 86400, rows=[(4, "fail", "fail")]),
        received=datetime(2024, 3, 3, 1, tzinfo=UTC),
    ).id
    db.add(make_report("A", "1"))
    got = db.failing_records()
    assert [(r.report, r.organization, r.count) for r in got] == [(second, "B", 4), (first, "A", 2)]
    window = db.failing_records(
        received_since="2024-03-02T00:00:00", received_until="2024-03-03T00:00:00"
    )
    assert [r.report for r in window] == [first]
    assert [r.report for r in db.failing_records(day_since="2024-03-02")] == [second]
    assert [r.report for r in db.failing_records(report=first)] == [first]
    assert db.delete(first) and not db.delete(first)
    assert db.count() == 1 and db.duplicate_count() == 0
    assert [r.report for r in db.failing_records()] == [second]


def test_long_report_id_stored_once(db: ReceivedDMARCReports) -> None:
    """A reporter's report_id and domain of any length (bounded by the parser
    only) are stored, and a copy found as a duplicate."""
    long_id, long_domain = incompressible(20_000), incompressible(5000) + ".example"
    first = db.add(make_report(rid=long_id, domain=long_domain))
    again = db.add(make_report(rid=long_id, domain=long_domain))
    assert again.duplicate and again.id == first.id
    assert db.list_reports(domain=long_domain).total == 1


def test_delete_cascades_and_reopen_readonly(tmp_path: Path) -> None:
    path = tmp_path / "d.db"
    with dmarcdb.open(path) as db:
        rid = db.add(make_report()).id
        db.add(make_report())
    with dmarcdb.open(path, readonly=True) as ro:
        assert ro.count() == 1
    with dmarcdb.open(path) as db:
        assert db.delete(rid)
        assert db.count() == 0 and db.duplicate_count() == 0
        assert db.conn.execute("SELECT count(*) FROM record").fetchone()[0] == 0
        assert integrity_check(db.conn) == []
    db.close()
    with pytest.raises(dmarcdb.DMARCDBError, match="closed"):
        db.count()


results = st.sampled_from(["pass", "fail", ""])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10**9), results, results), max_size=20))
def test_counts_partition_messages(rows: list[tuple[int, str, str]]) -> None:
    c = dmarcdb.report_counts(make_report(rows=rows))
    assert c.messages == sum(n for n, _, _ in rows)
    assert c.dkim_pass + c.dkim_fail <= c.messages
    assert c.spf_pass + c.spf_fail <= c.messages
    assert c.dmarc_pass + c.dmarc_fail == sum(n for n, d, s in rows if d or s)
