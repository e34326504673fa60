"""Report rows, XML and file name (RFC 7489 §7.2, appendix C; RFC 9990)."""

from __future__ import annotations

from dmarcsend_data import DAY, ev

from postel.dmarcrpt import parse_report
from postel.dmarcsend import build_report, built, parse_interval, parse_rua, rows
from postel.dmarcsend.destinations import ReportURI, needs_verification


def test_rows_group_by_source_disposition_results_and_identifiers() -> None:
    evs = [
        ev(ip="192.0.2.1"),
        ev(ip="192.0.2.1"),
        ev(ip="192.0.2.2"),
        ev(ip="192.0.2.1", spf="fail"),
        ev(ip="192.0.2.1", header_from="sub.sender.example"),
        ev(ip="192.0.2.9", disposition="reject", dkim="fail", spf="fail"),
    ]
    got = rows(evs)
    assert next((r.source_ip, r.count, r.header_from) for r in got) == (
        "192.0.2.1",
        2,
        "sender.example",
    )
    assert sum(r.count for r in got) == 6
    assert len(got) == 5


def test_report_reads_back_strictly_with_postels_parser() -> None:
    evs = [ev(), ev(), ev(ip="2001:db8::1", disposition="quarantine", dkim="fail", spf="fail")]
    evs[2].reasons = ["sampled_out"]
    rep = build_report(
        rows(evs),
        evs[-1],
        first_day=DAY,
        last_day=DAY,
        submitter="receiver.example",
        contact="postmaster@receiver.example",
        generator="postel test",
        max_records=100,
    )
    b = built(rep, "receiver.example")
    assert b.filename == "receiver.example!sender.example!1773446400!1773532799.xml.gz"
    parsed = parse_report(b.gzipped, strict=True)
    assert parsed.warnings == []
    back = parsed.report
    assert back.to_dict() == rep.to_dict()
    assert back.metadata.report_id == "20260314.sender.example@receiver.example"
    assert back.records[1].row.policy_evaluated.reasons[0].type == "sampled_out"


def test_max_records_leaves_out_smallest_rows_and_says_so() -> None:
    evs = [ev(ip=f"192.0.2.{i}") for i in range(1, 4)] + [ev(ip="192.0.2.1")]
    rep = build_report(
        rows(evs),
        evs[0],
        first_day=DAY,
        last_day=DAY,
        submitter="r.example",
        contact="p@r.example",
        generator="g",
        max_records=1,
    )
    assert [r.row.count for r in rep.records] == [2]
    assert rep.metadata.errors == ["2 rows with 2 messages left out (at most 1 rows per report)"]


def test_rua_sizes_and_interval() -> None:
    text = (
        "v=DMARC1; p=none; ri=604800; rua=mailto:a@x.example!10m, mailto:b@y.example!512,"
        "https://z.example/r, mailto:c%40odd@x.example?subject=r"
    )
    assert parse_rua(text) == [
        ReportURI("mailto:a@x.example", "a@x.example", 10 << 20),
        ReportURI("mailto:b@y.example", "b@y.example", 512),
        ReportURI("https://z.example/r", "", None),
        ReportURI("mailto:c%40odd@x.example?subject=r", "", None),
    ]
    assert parse_interval(text) == 604800
    # Nothing but one mailbox goes to RCPT TO and the To header (no header injection).
    bad = "v=DMARC1; p=none; rua=mailto:a%0D%0ABcc:%20x@evil.example,mailto:a,b@x.example"
    assert [u.address for u in parse_rua(bad)] == ["", "", ""]
    assert parse_interval("v=DMARC1; p=none; ri=soon") == 86400


def test_external_destination_is_another_organizational_domain() -> None:
    assert not needs_verification("mail.sender.example", "sender.example")
    assert needs_verification("sender.example", "collector.example")
