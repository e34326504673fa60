"""Report building: submitter, report-id, date range, RFC 8460 §4.4 JSON, file name."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

from tlsrptsend_data import DAY, record_day

from postel.tlsrpt import parse_report
from postel.tlsrptresultdb import ResultDB
from postel.tlsrptsend.build import (
    built,
    day_range,
    report_filename,
    report_id,
    submitter_domain,
)
from postel.tlsrptsend.group import Key, select


def test_submitter_strips_labels_until_dkim_domain() -> None:
    assert submitter_domain("mail.example.org", ["example.org"]) == "example.org"
    assert submitter_domain("Mail.Example.ORG.", ["mail.example.org", "example.org"]) == (
        "mail.example.org"
    )
    assert submitter_domain("a.b.example.org", ["b.example.org"]) == "b.example.org"
    assert submitter_domain("mail.example.org", ["other.example"]) is None
    assert submitter_domain("mail.example.org", []) is None


def test_report_id_and_range() -> None:
    assert report_id(DAY, "a.example", "example.org") == "20260314.a.example@example.org"
    r = day_range(DAY)
    assert r.start == dt.datetime(2026, 3, 14, tzinfo=dt.UTC)
    assert r.end == dt.datetime(2026, 3, 14, 23, 59, 59, tzinfo=dt.UTC)


def test_report_json_fields(tmp_path: Path) -> None:
    db = ResultDB.open(tmp_path / "r.db")
    record_day(db)
    sel = select(db.rows(day=DAY), Key("a.example", DAY, True, True), [])
    b = built(sel.policies, day=DAY, policy_domain="a.example", submitter="example.org")
    obj = json.loads(gzip.decompress(b.gzipped))
    # RFC 8460 §4.4 top-level fields, exactly.
    assert set(obj) == {
        "organization-name",
        "date-range",
        "contact-info",
        "report-id",
        "policies",
    }
    assert obj["organization-name"] == "example.org"
    assert obj["contact-info"] == "postmaster@example.org"
    assert obj["report-id"] == "20260314.a.example@example.org"
    assert obj["date-range"] == {
        "start-datetime": "2026-03-14T00:00:00Z",
        "end-datetime": "2026-03-14T23:59:59Z",
    }
    pols = {p["policy"]["policy-domain"]: p for p in obj["policies"]}
    assert set(pols) == {"a.example", "mx.hosting.example"}
    a = pols["a.example"]
    assert a["policy"]["policy-type"] == "sts"
    assert a["policy"]["mx-host"] == ["mx.hosting.example"]
    assert "mode: enforce" in a["policy"]["policy-string"]
    assert a["summary"] == {
        "total-successful-session-count": 3,
        "total-failure-session-count": 2,
    }
    (fd,) = a["failure-details"]
    assert fd["result-type"] == "certificate-expired"
    assert fd["failed-session-count"] == 2
    assert fd["receiving-mx-hostname"] == "mx.hosting.example"
    assert "receiving-mx-helo" not in fd  # omitted when empty
    h = pols["mx.hosting.example"]
    assert h["policy"]["mx-host"] == [] and h["failure-details"] == []
    # Strict RFC 8460 parsing accepts it and gives the same content back.
    parsed = parse_report(b.gzipped, strict=True)
    assert parsed.warnings == []
    assert parsed.report.report_id == obj["report-id"]
    assert parsed.report.total_failures() == 2
    assert parsed.report.total_successes() == 8


def test_filename_and_deterministic_gzip() -> None:
    b1 = built([], day=DAY, policy_domain="a.example", submitter="example.org")
    b2 = built([], day=DAY, policy_domain="a.example", submitter="example.org")
    assert b1.gzipped == b2.gzipped
    start = int(dt.datetime(2026, 3, 14, tzinfo=dt.UTC).timestamp())
    assert b1.filename == f"example.org!a.example!{start}!{start + 86399}.json.gz"
    assert report_filename(b1.report, "a.example", "example.org") == b1.filename
    assert json.loads(gzip.decompress(b1.gzipped))["policies"] == []
