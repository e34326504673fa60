"""The report e-mail (RFC 8460 §5.3): structure, headers, attachment, DKIM."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import gzip
import json
import re

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from tlsrptsend_data import DAY, nopolicy, sts

from postel.auth import DKIMSigner, public_key_record, verify_dkim
from postel.dns.mock import MockResolver
from postel.reportmail import fold
from postel.tlsrpt import parse_report
from postel.tlsrptsend.build import BuiltReport, built
from postel.tlsrptsend.message import compose, sign, subject

DATE = dt.datetime(2026, 3, 15, 0, 5, tzinfo=dt.UTC)


@pytest.fixture()
def report() -> BuiltReport:
    return built(
        [sts("a-rather-long-recipient-domain.example", "mx.example", 2, 1), nopolicy("x.example")],
        day=DAY,
        policy_domain="a-rather-long-recipient-domain.example",
        submitter="example.org",
    )


def test_message_structure(report: BuiltReport) -> None:
    raw = compose(report, from_addr="postmaster@example.org", to_addr="tls@a.example", date=DATE)
    assert b"\n" not in raw.replace(b"\r\n", b"")  # CRLF only
    # Lines stay within 78 characters except the unbreakable file name parameters.
    long = [line for line in raw.split(b"\r\n") if len(line) > 78]
    assert long and all(report.filename.encode() in line and len(line) < 998 for line in long)
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["From"] == "postmaster@example.org"
    assert msg["To"] == "tls@a.example"
    assert msg["Subject"] == (
        "Report Domain: a-rather-long-recipient-domain.example Submitter: example.org "
        "Report-ID: <20260314.a-rather-long-recipient-domain.example@example.org>"
    )
    assert msg["TLS-Report-Domain"] == "a-rather-long-recipient-domain.example"
    assert msg["TLS-Report-Submitter"] == "example.org"
    assert msg["TLS-Required"] == "No"
    assert msg["Message-ID"].endswith("@example.org>")
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "tlsrpt"
    text, attachment = list(msg.iter_parts())
    assert text.get_content_type() == "text/plain"
    assert "Report-ID: <20260314.a-rather-long-recipient-domain.example@example.org>" in (
        text.get_content()
    )
    assert attachment.get_content_type() == "application/tlsrpt+gzip"
    assert attachment.get_filename() == report.filename
    assert attachment.get_param("name") == report.filename
    data = attachment.get_content()
    assert data == report.gzipped
    obj = json.loads(gzip.decompress(data))
    assert obj["report-id"] == "20260314.a-rather-long-recipient-domain.example@example.org"


def test_message_parses_as_report(report: BuiltReport) -> None:
    raw = compose(report, from_addr="postmaster@example.org", to_addr="tls@a.example", date=DATE)
    parsed = parse_report(raw, strict=True)
    assert parsed.report.report_id == report.report.report_id
    assert parsed.report.total_failures() == 1


def test_subject(report: BuiltReport) -> None:
    assert subject(report).startswith("Report Domain: a-rather-long-recipient-domain.example ")


def test_fold_keeps_words_and_width() -> None:
    value = " ".join(f"word{i}" for i in range(40))
    out = fold("Subject", value)
    assert out.endswith(b"\r\n")
    lines = out[:-2].split(b"\r\n")
    assert len(lines) > 1
    assert all(len(line) <= 78 for line in lines)
    assert all(line.startswith(b" ") for line in lines[1:])
    assert re.sub(rb"\r\n ", b" ", out[:-2]) == b"Subject: " + value.encode()
    assert fold("X", "a" * 100) == b"X: " + b"a" * 100 + b"\r\n"  # no space: not split


async def test_dkim_signature_covers_report_headers(report: BuiltReport) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    # A signer whose configured headers lack the TLS-Report ones: they are added.
    signer = DKIMSigner.from_keys("example.org", {"sel": key}, headers=("From", "Subject"))
    raw = compose(report, from_addr="postmaster@example.org", to_addr="tls@a.example", date=DATE)
    signed = sign(signer, raw)
    head = re.sub(rb"\r\n[ \t]+", b" ", signed.split(b"\r\n\r\n", 1)[0])
    h = re.search(rb"h=([^;]+);", head)
    assert h is not None
    names = {x.strip().lower() for x in h.group(1).split(b":")}
    assert {b"from", b"subject", b"tls-report-domain", b"tls-report-submitter"} <= names
    resolver = MockResolver(
        {("sel._domainkey.example.org", "TXT"): [f'"{public_key_record(key)}"']}
    )
    results = await verify_dkim(resolver, signed)
    assert [(r.result, r.domain) for r in results] == [("pass", "example.org")]
    tampered = signed.replace(b"TLS-Report-Domain: a-rather", b"TLS-Report-Domain: b-rather", 1)
    assert [r.result for r in await verify_dkim(resolver, tampered)] == ["fail"]
