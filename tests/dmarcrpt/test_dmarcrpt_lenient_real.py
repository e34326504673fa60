"""Lenient reading of DMARC reports as real reporters send them:
each repair is a warning of the result, strict mode still refuses, and the
independent parser parsedmarc reads the same reports."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import parsedmarc
import pytest

from postel.dmarcrpt import DMARCReportError, parse_report

TESTDATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "testdata" / "dmarc"
BASE = (TESTDATA / "example.net!example.com!1529366400!1529452799.xml").read_bytes()


def empty_org_name(xml: bytes) -> bytes:
    return xml.replace(b"<org_name>example.net</org_name>", b"<org_name></org_name>")


def stray_schema_tag(xml: bytes) -> bytes:
    """A leftover <xs:schema> start tag around <feedback>, never closed."""
    return xml.replace(
        b"<feedback>",
        b'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">\n<feedback>',
        1,
    )


def latin1_byte_in_utf8(xml: bytes) -> bytes:
    """A byte that is not UTF-8 in a document that declares (by default) UTF-8."""
    return xml.replace(b"<org_name>example.net</org_name>", b"<org_name>R\xe9seau</org_name>")


def gzip_with_crlf(xml: bytes) -> bytes:
    return gzip.compress(xml) + b"\r\n"


CASES: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "empty org_name": (empty_org_name, "empty org_name"),
    "stray element around feedback": (stray_schema_tag, "content outside <feedback> dropped"),
    "invalid bytes in the declared encoding": (
        latin1_byte_in_utf8,
        "bytes invalid in the declared encoding replaced",
    ),
    "gzip followed by CRLF": (gzip_with_crlf, "gzip data followed by 2 trailing bytes, ignored"),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_lenient_reads_with_a_warning_strict_refuses(case: str) -> None:
    make, warning = CASES[case]
    data = make(BASE)
    with pytest.raises(DMARCReportError):
        parse_report(data, strict=True)
    result = parse_report(data)
    assert any(warning in w for w in result.warnings), result.warnings
    base = parse_report(BASE).report
    assert result.report.records == base.records
    assert result.report.policy_published == base.policy_published
    assert result.report.metadata.report_id == base.metadata.report_id


def test_replaced_bytes_show_as_replacement_characters() -> None:
    report = parse_report(latin1_byte_in_utf8(BASE)).report
    assert report.metadata.org_name == "R\ufffdseau"
    assert parse_report(empty_org_name(BASE)).report.metadata.org_name == ""


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_parsedmarc_reads_the_same_report(case: str) -> None:
    """The independent reference: what postel reads leniently, parsedmarc reads too,
    with the same counts (the cases are not postel's inventions)."""
    data = CASES[case][0](BASE)
    theirs = parsedmarc.parse_aggregate_report_file(data, offline=True)
    ours = parse_report(data).report
    assert theirs["report_metadata"]["report_id"] == ours.metadata.report_id
    assert sum(r["count"] for r in theirs["records"]) == ours.message_count()


def test_every_valid_testdata_report_reads_leniently() -> None:
    manifest = (TESTDATA / "MANIFEST.md").read_text()
    valid = [
        line.split("|")[1].strip()
        for line in manifest.splitlines()
        if line.startswith("| ") and line.split("|")[2].strip() == "valid"
    ]
    assert len(valid) >= 5
    for name in valid:
        result = parse_report((TESTDATA / name).read_bytes())
        assert result.report.records, name
