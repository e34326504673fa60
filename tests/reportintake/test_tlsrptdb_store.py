"""tlsrpt.db: storing received TLS reports, duplicates, listing and sums."""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postel import tlsrptdb
from postel.db import integrity_check
from postel.tlsrpt import (
    DateRange,
    Policy,
    PolicyDetails,
    PolicyType,
    Report,
    Summary,
    parse_report,
)
from postel.tlsrptdb.api import ReceivedTLSReports

TESTDATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "testdata" / "tlsrpt"
DAY = datetime(2024, 3, 1, tzinfo=UTC)


def make_report(
    org: str = "Org",
    rid: str = "r1",
    day: datetime = DAY,
    policies: list[tuple[str, int, int]] | None = None,
) -> Report:
    entries = [
        Policy(
            PolicyDetails(PolicyType.STS, ["version: STSv1"], dom, ["mx.example"]), Summary(s, f)
        )
        for dom, s, f in (policies if policies is not None else [("example.com", 10, 1)])
    ]
    return Report(org, DateRange(day, day + timedelta(days=1)), "ops@org", rid, entries)


def incompressible(n: int) -> str:
    """*n* characters that do not compress (a compressed index entry would fit)."""
    out = "".join(hashlib.sha256(str(i).encode()).hexdigest() for i in range(n // 64 + 1))
    return out[:n]


@pytest.fixture
def db(tlsdb: ReceivedTLSReports) -> ReceivedTLSReports:
    """On each backend (conftest.py)."""
    return tlsdb


def test_add_and_get_testdata_report(db: ReceivedTLSReports) -> None:
    parsed = parse_report((TESTDATA / "rfc8460.json").read_bytes())
    added = db.add(
        parsed.report,
        warnings=parsed.warnings,
        from_addr="noreply@company-x.example",
        to_rcpt="tlsrpt@company-y.example",
        message_ref="accounts/a/msg/0/1",
    )
    assert not added.duplicate
    got = db.get(added.id)
    assert got is not None
    assert got.organization == "Company-X"
    assert got.report_id == "5065427c-23d3-47ca-b6e0-946ea0e8c4be"
    assert got.policy_domains == ["company-y.example"]
    assert (got.successes, got.failures) == (5326, 303)
    assert got.kind == "domain"
    assert got.from_addr == "noreply@company-x.example"
    assert got.to_rcpt == "tlsrpt@company-y.example"
    assert got.message_ref == "accounts/a/msg/0/1"
    assert got.start == "2016-04-01T00:00:00Z"
    assert got.warnings == parsed.warnings
    # The stored JSON is the normalised report, equal to the parsed one.
    assert got.report_dict() == parsed.report.to_dict()
    assert got.duplicates == 0


def test_second_copy_is_a_duplicate_not_an_error(db: ReceivedTLSReports) -> None:
    first = db.add(make_report(), to_rcpt="a@example.com")
    second = db.add(make_report(policies=[("example.com", 99, 99)]), to_rcpt="b@example.com")
    assert second.duplicate and second.id == first.id
    assert db.count() == 1
    assert db.duplicate_count() == 1
    got = db.get(first.id)
    assert got is not None and got.duplicates == 1
    # The first copy's numbers stay; the duplicate does not count twice.
    assert (got.successes, got.failures) == (10, 1)
    assert db.daily_totals() == [tlsrptdb.DayTotal("2024-03-01", 1, 10, 1)]
    # Same report-id from another organization is another report.
    assert not db.add(make_report(org="Other")).duplicate
    assert db.count() == 2


def test_list_paginates_newest_first_and_filters_by_domain(db: ReceivedTLSReports) -> None:
    for i in range(5):
        dom = "a.example" if i % 2 == 0 else "b.example"
        db.add(make_report(rid=f"r{i}", day=DAY + timedelta(days=i), policies=[(dom, i, 0)]))
    page = db.list_reports(limit=2)
    assert page.total == 5
    assert [r.report_id for r in page.reports] == ["r4", "r3"]
    assert [r.report_id for r in db.list_reports(limit=2, offset=4).reports] == ["r0"]
    a = db.list_reports(domain="A.Example.")
    assert a.total == 3 and [r.report_id for r in a.reports] == ["r4", "r2", "r0"]
    assert all(r.json == "" for r in a.reports)  # lists leave out the JSON
    with pytest.raises(tlsrptdb.TLSRPTDBArgumentError):
        db.list_reports(limit=0)
    with pytest.raises(tlsrptdb.TLSRPTDBArgumentError):
        db.list_reports(kind="nonsense")


def test_kind_host_and_filter(db: ReceivedTLSReports) -> None:
    db.add(make_report(rid="d"), kind="domain")
    db.add(make_report(rid="h", policies=[("mail.example.com", 3, 0)]), kind="host")
    assert [r.report_id for r in db.list_reports(kind="host").reports] == ["h"]
    with pytest.raises(tlsrptdb.TLSRPTDBArgumentError):
        db.add(make_report(rid="x"), kind="bogus")


def test_daily_and_organization_totals(db: ReceivedTLSReports) -> None:
    db.add(make_report("A", "1", DAY, [("x.example", 10, 1), ("y.example", 5, 5)]))
    db.add(make_report("B", "2", DAY, [("x.example", 20, 0)]))
    db.add(make_report("A", "3", DAY + timedelta(days=1), [("x.example", 1, 2)]))
    assert db.daily_totals() == [
        tlsrptdb.DayTotal("2024-03-01", 2, 35, 6),
        tlsrptdb.DayTotal("2024-03-02", 1, 1, 2),
    ]
    # Per domain only that domain's policy entries count.
    assert db.daily_totals(domain="y.example") == [tlsrptdb.DayTotal("2024-03-01", 1, 5, 5)]
    assert db.daily_totals(since="2024-03-02") == [tlsrptdb.DayTotal("2024-03-02", 1, 1, 2)]
    assert db.daily_totals(until="2024-03-01")[0].day == "2024-03-01"
    # Most sessions first: A has 24, B 20.
    assert db.organization_totals() == [
        tlsrptdb.OrgTotal("A", 2, 16, 8),
        tlsrptdb.OrgTotal("B", 1, 20, 0),
    ]
    assert db.organization_totals(domain="x.example") == [
        tlsrptdb.OrgTotal("B", 1, 20, 0),
        tlsrptdb.OrgTotal("A", 2, 11, 3),
    ]


def test_find_and_delete_with_its_duplicates(db: ReceivedTLSReports) -> None:
    rid = db.add(make_report()).id
    db.add(make_report())
    found = db.find("Org", "r1")
    assert found is not None and found.id == rid and found.duplicates == 1
    assert db.find("Org", "nope") is None and db.get(rid + 100) is None
    assert db.delete(rid)
    assert not db.delete(rid)
    assert db.count() == 0 and db.duplicate_count() == 0


def test_failing_reports_in_a_received_window(db: ReceivedTLSReports) -> None:
    """The digest's window: received since (inclusive) until (exclusive), newest first."""
    db.add(make_report(rid="ok", policies=[("a.example", 5, 0)]), received=DAY)
    db.add(make_report(rid="early"), received=DAY + timedelta(hours=1))
    db.add(make_report(rid="late", day=DAY + timedelta(days=1)), received=DAY + timedelta(days=1))
    since, until = "2024-03-01T00:00:00", "2024-03-02T00:00:00"
    got = db.failing(received_since=since, received_until=until)
    assert [r.report_id for r in got] == ["early"] and got[0].json
    assert [r.report_id for r in db.failing()] == ["late", "early"]
    assert [r.report_id for r in db.failing(day_since="2024-03-02")] == ["late"]
    assert [r.report_id for r in db.failing(limit=1)] == ["late"]


def test_long_report_id_stored_once(db: ReceivedTLSReports) -> None:
    """A reporter's report-id of any length (bounded by the parser only) is
    stored and its copies found as duplicates."""
    long_id, long_domain = incompressible(20_000), incompressible(5000) + ".example"
    first = db.add(make_report(rid=long_id, policies=[(long_domain, 1, 0)]))
    again = db.add(make_report(rid=long_id))
    assert again.duplicate and again.id == first.id
    assert db.count() == 1
    assert db.list_reports(domain=long_domain).total == 1


def test_find_delete_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "tlsrpt.db"
    with tlsrptdb.open(path) as db:
        rid = db.add(make_report()).id
        db.add(make_report())
    with tlsrptdb.open(path, readonly=True) as ro:
        found = ro.find("Org", "r1")
        assert found is not None and found.id == rid and found.duplicates == 1
        assert ro.get(rid + 100) is None
    with tlsrptdb.open(path) as db:
        assert db.delete(rid)
        assert not db.delete(rid)
        assert db.count() == 0 and db.duplicate_count() == 0
        assert integrity_check(db.conn) == []


def test_closed_database_says_so(tmp_path: Path) -> None:
    db = tlsrptdb.open(tmp_path / "t.db")
    db.close()
    with pytest.raises(tlsrptdb.TLSRPTDBError, match="closed"):
        db.count()


def test_schema_version_recorded(tmp_path: Path) -> None:
    tlsrptdb.open(tmp_path / "t.db").close()
    conn = sqlite3.connect(tmp_path / "t.db")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    conn.close()


counts = st.integers(min_value=0, max_value=2**40)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 5), counts, counts),
        min_size=1,
        max_size=12,
    )
)
def test_sums_equal_sum_of_stored_reports(
    tmp_path_factory: pytest.TempPathFactory, items: list[tuple[str, int, int, int]]
) -> None:
    path = tmp_path_factory.mktemp("h") / "t.db"
    with tlsrptdb.open(path) as db:
        expected: dict[tuple[str, str], tuple[int, int]] = {}
        for i, (org, days, s, f) in enumerate(items):
            # every third report repeats an earlier id: a duplicate that must not count
            rid = f"id{i // 3 * 3}" if i % 3 == 2 else f"id{i}"
            res = db.add(make_report(org, rid, DAY + timedelta(days=days), [("d.example", s, f)]))
            if not res.duplicate:
                key = (org, (DAY + timedelta(days=days)).strftime("%Y-%m-%d"))
                es, ef = expected.get(key, (0, 0))
                expected[key] = (es + s, ef + f)
        by_day: dict[str, tuple[int, int]] = {}
        for (_, day), (s, f) in expected.items():
            bs, bf = by_day.get(day, (0, 0))
            by_day[day] = (bs + s, bf + f)
        assert {t.day: (t.successes, t.failures) for t in db.daily_totals()} == by_day
        total = sum(s for s, _ in by_day.values()), sum(f for _, f in by_day.values())
        org_sum = db.organization_totals()
        assert (sum(o.successes for o in org_sum), sum(o.failures for o in org_sum)) == total
