"""Limits of the DMARC report parser, checked as the parse goes and per message."""

from __future__ import annotations

import gzip
from email.message import EmailMessage
from pathlib import Path

import pytest

from postel.dmarcrpt import AggregateReportError, DMARCLimitError, Limits, parse_report

EXAMPLE = (
    Path(__file__).resolve().parents[2]
    / ".."
    / "shared"
    / "testdata"
    / "dmarc"
    / "example.net!example.com!1529366400!1529452799.xml"
)


def _mail(*parts: bytes) -> bytes:
    msg = EmailMessage()
    msg["From"] = "dmarc@reporter.example"
    msg["Subject"] = "Report Domain: example.com"
    msg.set_content("reports attached")
    for i, part in enumerate(parts):
        msg.add_attachment(part, maintype="application", subtype="gzip", filename=f"{i}.xml.gz")
    return bytes(msg)


def test_depth_limit() -> None:
    doc = b"<feedback>" + b"<a>" * 10 + b"</a>" * 10 + b"</feedback>"
    with pytest.raises(DMARCLimitError, match="nested more than 5 deep"):
        parse_report(doc, limits=Limits(max_depth=5))


def test_element_limit_stops_the_parse_early() -> None:
    # Far more elements than the limit, in one document: refused within a chunk of the limit.
    doc = gzip.compress(b"<feedback>" + b"<a/>" * 2_000_000 + b"</feedback>")
    with pytest.raises(DMARCLimitError, match="more than 1000 XML elements"):
        parse_report(doc, limits=Limits(max_elements=1000))


def test_bytes_without_markup_limit() -> None:
    # Checked before each further 64 KB chunk is read: the sizes here span several.
    comment = b"<feedback><!--" + b"x" * 300_000 + b"--></feedback>"
    with pytest.raises(DMARCLimitError, match="more than 1000 bytes in one tag, text or comment"):
        parse_report(gzip.compress(comment), limits=Limits(max_stall_bytes=1000))
    tag = b"<feedback " + b" ".join(b'a%d=""' % i for i in range(40_000)) + b"/>"
    with pytest.raises(DMARCLimitError, match="bytes in one tag"):
        parse_report(gzip.compress(tag), limits=Limits(max_stall_bytes=1000))


def test_record_limit_counted_as_records_arrive() -> None:
    doc = gzip.compress(b"<feedback>" + b"<record/>" * 100_000 + b"</feedback>")
    with pytest.raises(DMARCLimitError, match="more than 10 records"):
        parse_report(doc, limits=Limits(max_records=10))


def test_decompressed_bytes_are_counted_per_message() -> None:
    """Each part is under the limit; together they are not."""
    part = gzip.compress(b"<feedback>" + b" " * 600 + b"</feedback>")
    limits = Limits(max_decompressed_bytes=1000)
    with pytest.raises(AggregateReportError):  # one part alone: within the limits, not a report
        parse_report(_mail(part), limits=limits)
    with pytest.raises(DMARCLimitError, match="more than 1000 bytes in this message"):
        parse_report(_mail(part, part), limits=limits)


def test_elements_are_counted_per_message() -> None:
    part = gzip.compress(b"<feedback>" + b"<a/>" * 600 + b"</feedback>")
    limits = Limits(max_elements=1000)
    with pytest.raises(AggregateReportError):
        parse_report(_mail(part), limits=limits)
    with pytest.raises(DMARCLimitError, match="more than 1000 XML elements in this message"):
        parse_report(_mail(part, part), limits=limits)


def test_only_the_first_parts_are_tried() -> None:
    bad = gzip.compress(b"<feedback/>")
    good = gzip.compress(EXAMPLE.read_bytes())
    assert parse_report(_mail(bad, bad, good)).report.metadata.org_name == "example.net"
    with pytest.raises(AggregateReportError):  # the good part is the fifth: never looked at
        parse_report(_mail(bad, bad, bad, bad, good))


def test_message_with_too_many_parts_is_refused_before_parsing() -> None:
    part = gzip.compress(b"<feedback/>")
    with pytest.raises(DMARCLimitError, match="MIME part boundaries"):
        parse_report(_mail(*[part] * 300))
