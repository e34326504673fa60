"""DMARC aggregate report parsing: vectors, formats, containers, errors (RFC 7489 C, RFC 9990)."""

from __future__ import annotations

import gzip
import io
import re
import struct
import xml.etree.ElementTree as ET
import zipfile
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postel.dmarcrpt import (
    NAMESPACE_RFC9990,
    AggregateReportError,
    AuthResults,
    DateRange,
    DKIMResult,
    DMARCInputError,
    DMARCLimitError,
    DMARCReportError,
    Identifiers,
    Limits,
    PolicyEvaluated,
    PolicyOverrideReason,
    PolicyPublished,
    Record,
    Report,
    ReportMetadata,
    Row,
    SPFResult,
    XMLError,
    parse_report,
    parse_report_xml,
)

TESTDATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "testdata" / "dmarc"
EXAMPLE_NET = "example.net!example.com!1529366400!1529452799.xml"
FASTMAIL = "fastmail.com!example.com!1516060800!1516147199!102675056.xml.gz"
ZIPPED = "estadocuenta1.infonacot.gob.mx!example.com!1536853302!1536939702!2940.xml.zip"

# ../shared/testdata/FACTS.md (files not listed there: facts read from the files).
FACTS: dict[str, tuple[str, str, str, int, int]] = {
    EXAMPLE_NET: ("example.net", "b043f0e264cf4ea995e93765242f6dfb", "example.com", 1, 1),
    FASTMAIL: ("FastMail Pty Ltd", "102675056", "indemed.com", 1, 1),
    ZIPPED: ("XYZ Corporation", "2940", "example.com", 1, 1),
    "invalid_xml.xml": ("veeam.com", "sonexushealth.com:1530233361", "example.com", 1, 1),
    "twilight.eml": ("google.com", "1627703331531660819", "twlnet.com", 1, 1),
}


def manifest() -> list[tuple[str, str]]:
    text = (TESTDATA / "MANIFEST.md").read_text()
    rows = re.findall(r"^\| (\S+) \| (valid|invalid) \|", text, re.M)
    assert rows
    return rows


def check_facts(report: Report, name: str) -> None:
    org, rid, domain, nrecords, count = FACTS[name]
    assert report.metadata.org_name == org
    assert report.metadata.report_id == rid
    assert report.policy_published.domain == domain
    assert len(report.records) == nrecords
    assert report.message_count() == count


@pytest.mark.parametrize(("name", "expected"), manifest())
def test_manifest_vectors(name: str, expected: str) -> None:
    data = (TESTDATA / name).read_bytes()
    if expected == "valid":
        result = parse_report(data)
        check_facts(result.report, name)
        assert result.report.format == "rfc7489"
    else:
        with pytest.raises(DMARCReportError) as ei:
            parse_report(data)
        assert str(ei.value)


def test_fastmail_details() -> None:
    r = parse_report((TESTDATA / FASTMAIL).read_bytes()).report
    assert r.metadata.extra_contact_info == "https://fastmail.com/"
    assert r.metadata.date_range == DateRange(1516060800, 1516147199)
    assert r.policy_published.pct == 100
    rec = r.records[0]
    assert rec.row.source_ip == "104.195.80.20"
    assert rec.row.policy_evaluated == PolicyEvaluated("none", "fail", "fail")
    assert rec.identifiers == Identifiers("example.com", "example.com", "fastmail.fm")
    assert rec.auth_results.spf == [SPFResult("example.com", "softfail", "mfrom")]
    assert rec.auth_results.dkim == []


def test_invalid_xml_repaired_leniently_rejected_strictly() -> None:
    data = (TESTDATA / "invalid_xml.xml").read_bytes()
    result = parse_report(data)
    assert result.report.metadata.email == "<bad-xml@bad-xml.net>"
    assert result.report.records[0].identifiers.header_from == "bad<xml.net"
    assert any("line 5, column" in w and "repaired" in w for w in result.warnings)
    with pytest.raises(XMLError, match="line 5, column"):
        parse_report(data, strict=True)


def test_empty_rejected() -> None:
    with pytest.raises(XMLError, match="empty"):
        parse_report((TESTDATA / "empty.xml").read_bytes())


def test_generated_gzip_and_zip_of_xml() -> None:
    xml = (TESTDATA / EXAMPLE_NET).read_bytes()
    check_facts(parse_report(gzip.compress(xml)).report, EXAMPLE_NET)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("report.xml", xml)
    check_facts(parse_report(buf.getvalue()).report, EXAMPLE_NET)


def test_zip_with_two_xml_members_rejected() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.xml", "<feedback/>")
        zf.writestr("b.xml", "<feedback/>")
    with pytest.raises(DMARCInputError, match="exactly one XML member"):
        parse_report(buf.getvalue())


def _zip_with_empty_member_name() -> bytes:
    """zipfile cannot write an empty member name, so patch one out of a valid archive."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("Q", "<feedback/>")
    d = bytearray(buf.getvalue())
    local = d.find(b"PK\x03\x04")
    struct.pack_into("<H", d, local + 26, 0)
    del d[local + 30]
    central = d.find(b"PK\x01\x02")
    struct.pack_into("<H", d, central + 28, 0)
    del d[central + 46]
    end = d.find(b"PK\x05\x06")
    size, offset = struct.unpack_from("<II", d, end + 12)
    struct.pack_into("<II", d, end + 12, size - 1, offset - 1)
    return bytes(d)


def test_zip_member_without_name_rejected_cleanly() -> None:
    data = _zip_with_empty_member_name()
    assert zipfile.ZipFile(io.BytesIO(data)).infolist()[0].filename == ""
    with pytest.raises(DMARCInputError, match="member 0 has an empty name"):
        parse_report(data)


def test_broken_zip_rejected() -> None:
    with pytest.raises(DMARCInputError, match="zip"):
        parse_report(b"PK\x03\x04" + b"\x00" * 50)


def _email(attachment: bytes, ctype: str, filename: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "dmarc@example.net"
    msg["To"] = "dmarc-reports@example.com"
    msg["Subject"] = "Report Domain: example.com Submitter: example.net Report-ID: x"
    msg.set_content("DMARC aggregate report attached.")
    maintype, subtype = ctype.split("/")
    msg.add_attachment(attachment, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes()


@pytest.mark.parametrize(
    ("ctype", "wrap", "suffix"),
    [
        ("application/gzip", gzip.compress, ".xml.gz"),
        ("text/xml", lambda b: b, ".xml"),
        ("application/octet-stream", gzip.compress, ".xml.gz"),
    ],
)
def test_whole_report_email(ctype: str, wrap: Any, suffix: str) -> None:
    xml = (TESTDATA / EXAMPLE_NET).read_bytes()
    raw = _email(wrap(xml), ctype, "example.net!example.com!1529366400!1529452799" + suffix)
    check_facts(parse_report(raw).report, EXAMPLE_NET)


def test_email_zip_attachment() -> None:
    raw = _email((TESTDATA / ZIPPED).read_bytes(), "application/zip", ZIPPED)
    check_facts(parse_report(raw).report, ZIPPED)


def test_email_without_report() -> None:
    msg = EmailMessage()
    msg["From"] = "a@example.com"
    msg.set_content("hello")
    with pytest.raises(DMARCInputError, match="no DMARC report"):
        parse_report(msg.as_bytes())


def test_not_a_report() -> None:
    with pytest.raises(DMARCInputError):
        parse_report(b"\x00\x01binary")
    with pytest.raises(AggregateReportError, match="expected <feedback>"):
        parse_report(b"<html><body/></html>")


RFC9990 = f"""<?xml version="1.0" encoding="UTF-8"?>
<feedback xmlns="{NAMESPACE_RFC9990}" xmlns:ext="urn:example:ext">
  <version>1.0</version>
  <report_metadata>
    <org_name>Receiver Inc.</org_name>
    <email>dmarc@receiver.example</email>
    <report_id>r-9990</report_id>
    <date_range><begin>1700000000</begin><end>1700086399</end></date_range>
    <error>could not parse rua</error>
    <generator>postel 0.1</generator>
  </report_metadata>
  <policy_published>
    <domain>Example.COM.</domain>
    <discovery_method>treewalk</discovery_method>
    <p>reject</p>
    <sp>quarantine</sp>
    <np>reject</np>
    <fo>1</fo>
    <adkim>s</adkim>
    <aspf>r</aspf>
    <testing>y</testing>
  </policy_published>
  <extension><ext:thing>1</ext:thing></extension>
  <record>
    <row>
      <source_ip>2001:DB8::1</source_ip>
      <count>7</count>
      <policy_evaluated>
        <disposition>Quarantine</disposition>
        <dkim>fail</dkim>
        <spf>pass</spf>
        <reason><type>policy_test_mode</type><comment>t=y</comment></reason>
      </policy_evaluated>
    </row>
    <identifiers>
      <header_from>example.com</header_from>
      <envelope_from></envelope_from>
    </identifiers>
    <auth_results>
      <dkim>
        <domain>example.com</domain>
        <selector>s1</selector>
        <result>fail</result>
        <human_result>body hash mismatch</human_result>
      </dkim>
      <spf><domain>example.com</domain><scope>mfrom</scope><result>pass</result></spf>
    </auth_results>
    <ext:note>record extension</ext:note>
  </record>
</feedback>
"""


def test_rfc9990_format() -> None:
    result = parse_report(RFC9990.encode(), strict=True)
    r = result.report
    assert r.format == "rfc9990"
    assert r.namespace == NAMESPACE_RFC9990
    assert r.version == "1.0"
    assert r.metadata.generator == "postel 0.1"
    assert r.metadata.errors == ["could not parse rua"]
    assert r.metadata.extra_contact_info is None
    assert r.policy_published == PolicyPublished(
        domain="example.com",
        p="reject",
        sp="quarantine",
        np="reject",
        adkim="s",
        aspf="r",
        pct=None,
        fo="1",
        testing="y",
        discovery_method="treewalk",
    )
    rec = r.records[0]
    assert rec.row == Row(
        "2001:db8::1",
        7,
        PolicyEvaluated(
            "quarantine", "fail", "pass", [PolicyOverrideReason("policy_test_mode", "t=y")]
        ),
    )
    assert rec.identifiers.envelope_from == ""  # null reverse-path
    assert rec.auth_results.dkim == [DKIMResult("example.com", "fail", "s1", "body hash mismatch")]
    assert any("extension element" in w for w in result.warnings)
    d = r.to_dict()
    assert d["format"] == "rfc9990"
    assert d["records"][0]["auth_results"]["dkim"][0]["human_result"] == "body hash mismatch"


@pytest.mark.parametrize(
    ("old", "new", "exc", "fragment"),
    [
        (
            "<report_id>r-9990</report_id>",
            "",
            AggregateReportError,
            "/feedback/report_metadata/report_id: required element missing",
        ),
        (
            "<count>7</count>",
            "<count>seven</count>",
            AggregateReportError,
            "/feedback/record[0]/row/count: expected a non-negative integer",
        ),
        (
            "<count>7</count>",
            "<count>-7</count>",
            AggregateReportError,
            "/feedback/record[0]/row/count",
        ),
        (
            "<begin>1700000000</begin>",
            "",
            AggregateReportError,
            "/feedback/report_metadata/date_range/begin: required element missing",
        ),
        ("<policy_published>", "<policy_publishe>", XMLError, "mismatched tag"),
    ],
)
def test_errors_say_where(old: str, new: str, exc: type[Exception], fragment: str) -> None:
    data = RFC9990.replace(old, new, 1).encode()
    assert data != RFC9990.encode()
    with pytest.raises(exc) as ei:
        parse_report(data)
    assert fragment in str(ei.value)


def test_lenient_unknown_values_warn_strict_rejects() -> None:
    data = RFC9990.replace("<p>reject</p>", "<p>block</p>").encode()
    result = parse_report(data)
    assert result.report.policy_published.p == "block"
    assert any(w.startswith("/feedback/policy_published/p: unknown value") for w in result.warnings)
    with pytest.raises(AggregateReportError, match="/feedback/policy_published/p"):
        parse_report(data, strict=True)


def test_record_limit() -> None:
    rec = RFC9990[RFC9990.index("  <record>") : RFC9990.index("</feedback>")]
    data = RFC9990.replace(rec, rec * 3).encode()
    assert len(parse_report(data).report.records) == 3
    with pytest.raises(DMARCLimitError, match="more than 2 records"):
        parse_report(data, limits=Limits(max_records=2))


# Round trip: a model written as XML (here, by the test) parses back to itself.

_tok = st.from_regex(r"\A[a-z0-9][a-z0-9.\-]{0,10}\Z")
_text = (
    st.text(
        st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Cn", "Co")),
        min_size=1,
        max_size=12,
    )
    .map(str.strip)
    .filter(bool)
)


def _opt(s: st.SearchStrategy[str]) -> st.SearchStrategy[str | None]:
    return st.none() | s


reports = st.builds(
    Report,
    metadata=st.builds(
        ReportMetadata,
        org_name=_text,
        email=_text,
        report_id=_text,
        date_range=st.builds(DateRange, st.integers(0, 2**31), st.integers(2**31, 2**32)),
        extra_contact_info=_opt(_text),
        errors=st.lists(_text, max_size=2),
        generator=_opt(_text),
    ),
    policy_published=st.builds(
        PolicyPublished,
        domain=_tok.filter(lambda s: not s.endswith(".")),
        p=st.sampled_from(["none", "quarantine", "reject"]),
        sp=_opt(st.sampled_from(["none", "reject"])),
        np=_opt(st.sampled_from(["none", "reject"])),
        adkim=_opt(st.sampled_from(["r", "s"])),
        aspf=_opt(st.sampled_from(["r", "s"])),
        pct=st.none() | st.integers(0, 100),
        fo=_opt(st.sampled_from(["0", "1", "d:s"])),
        testing=_opt(st.sampled_from(["n", "y"])),
        discovery_method=_opt(st.sampled_from(["psl", "treewalk"])),
    ),
    records=st.lists(
        st.builds(
            Record,
            row=st.builds(
                Row,
                source_ip=st.ip_addresses().map(str),
                count=st.integers(0, 2**40),
                policy_evaluated=st.builds(
                    PolicyEvaluated,
                    disposition=st.sampled_from(["none", "quarantine", "reject"]),
                    dkim=st.sampled_from(["pass", "fail"]),
                    spf=st.sampled_from(["pass", "fail"]),
                    reasons=st.lists(
                        st.builds(
                            PolicyOverrideReason,
                            type=st.sampled_from(["forwarded", "local_policy", "other"]),
                            comment=_opt(_text),
                        ),
                        max_size=2,
                    ),
                ),
            ),
            identifiers=st.builds(
                Identifiers, header_from=_tok, envelope_from=_opt(_tok), envelope_to=_opt(_tok)
            ),
            auth_results=st.builds(
                AuthResults,
                dkim=st.lists(
                    st.builds(
                        DKIMResult,
                        domain=_tok,
                        result=st.sampled_from(["pass", "fail", "none"]),
                        selector=_opt(_tok),
                        human_result=_opt(_text),
                    ),
                    max_size=2,
                ),
                spf=st.lists(
                    st.builds(
                        SPFResult,
                        domain=_tok,
                        result=st.sampled_from(["pass", "softfail"]),
                        scope=_opt(st.just("mfrom")),
                        human_result=_opt(_text),
                    ),
                    max_size=2,
                ),
            ),
        ),
        min_size=1,
        max_size=3,
    ),
    version=_opt(st.just("1.0")),
    format=st.just("rfc9990"),
    namespace=st.just(NAMESPACE_RFC9990),
)


def _to_xml(r: Report) -> bytes:
    q = f"{{{NAMESPACE_RFC9990}}}"

    def add(parent: ET.Element, name: str, value: object = None) -> ET.Element:
        el = ET.SubElement(parent, q + name)
        if value is not None:
            el.text = str(value)
        return el

    def add_fields(parent: ET.Element, obj: object, names: list[str]) -> None:
        for n in names:
            v = getattr(obj, n)
            if v is not None:
                add(parent, n, v)

    root = ET.Element(q + "feedback")
    if r.version:
        add(root, "version", r.version)
    md = add(root, "report_metadata")
    add_fields(md, r.metadata, ["org_name", "email", "extra_contact_info", "report_id"])
    dr = add(md, "date_range")
    add(dr, "begin", r.metadata.date_range.begin)
    add(dr, "end", r.metadata.date_range.end)
    for e in r.metadata.errors:
        add(md, "error", e)
    add_fields(md, r.metadata, ["generator"])
    pp = add(root, "policy_published")
    add_fields(
        pp,
        r.policy_published,
        ["domain", "discovery_method", "p", "sp", "np", "pct", "fo", "adkim", "aspf", "testing"],
    )
    for rec in r.records:
        re_ = add(root, "record")
        row = add(re_, "row")
        add(row, "source_ip", rec.row.source_ip)
        add(row, "count", rec.row.count)
        pe = add(row, "policy_evaluated")
        add_fields(pe, rec.row.policy_evaluated, ["disposition", "dkim", "spf"])
        for reason in rec.row.policy_evaluated.reasons:
            add_fields(add(pe, "reason"), reason, ["type", "comment"])
        add_fields(
            add(re_, "identifiers"),
            rec.identifiers,
            ["header_from", "envelope_from", "envelope_to"],
        )
        ar = add(re_, "auth_results")
        for d in rec.auth_results.dkim:
            add_fields(add(ar, "dkim"), d, ["domain", "selector", "result", "human_result"])
        for s in rec.auth_results.spf:
            add_fields(add(ar, "spf"), s, ["domain", "scope", "result", "human_result"])
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


@settings(max_examples=150)
@given(reports)
def test_xml_round_trip(report: Report) -> None:
    result = parse_report_xml(_to_xml(report), strict=True)
    assert result.report == report
    assert parse_report(gzip.compress(_to_xml(report))).report == report


@settings(max_examples=300)
@given(st.binary(max_size=2000))
def test_random_bytes_only_package_errors(data: bytes) -> None:
    for candidate in (
        data,
        b"<" + data,
        b"<feedback>" + data,
        gzip.compress(data),
        b"PK\x03\x04" + data,
        b"Subject: x\r\n\r\n" + data,
    ):
        try:
            parse_report(candidate)
        except DMARCReportError:
            pass


@settings(max_examples=200)
@given(st.data())
def test_mutated_report_only_package_errors(data: st.DataObject) -> None:
    base = bytearray(RFC9990.encode())
    for _ in range(data.draw(st.integers(1, 5))):
        i = data.draw(st.integers(0, len(base) - 1))
        base[i] = data.draw(st.sampled_from(list(b"<>&/x9 -\"'\x00")))
    for strict in (False, True):
        try:
            parse_report(bytes(base), strict=strict)
        except DMARCReportError:
            pass
