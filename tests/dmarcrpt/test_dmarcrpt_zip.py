"""DMARC reports in zip archives: malformed members, counts and sizes (RFC 7489 §7.2.1.1)."""

from __future__ import annotations

import io
import struct
import zipfile
from email.message import EmailMessage

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postel.dmarcrpt import DMARCInputError, DMARCLimitError, DMARCReportError, Limits, parse_report
from postel.dmarcrpt.container import unzip_bounded

REPORT = b"""<feedback>
<report_metadata><org_name>example.net</org_name><email>r@example.net</email>
<report_id>z1</report_id><date_range><begin>1529366400</begin><end>1529452799</end></date_range>
</report_metadata>
<policy_published><domain>example.com</domain><p>none</p></policy_published>
<record><row><source_ip>192.0.2.1</source_ip><count>1</count>
<policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>pass</spf>
</policy_evaluated></row><identifiers><header_from>example.com</header_from></identifiers>
<auth_results><spf><domain>example.com</domain><result>pass</result></spf></auth_results>
</record></feedback>
"""


def _zip(*members: tuple[str, bytes]) -> bytes:
    """A zip archive; ZipInfo lets zipfile write names it refuses as strings (e.g. "")."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr(zipfile.ZipInfo(name), data)
    return buf.getvalue()


def _email(attachment: bytes) -> bytes:
    msg = EmailMessage()
    msg["From"] = "dmarc@example.net"
    msg["To"] = "dmarc-reports@example.com"
    msg["Subject"] = "Report Domain: example.com"
    msg.set_content("report attached")
    msg.add_attachment(attachment, maintype="application", subtype="zip", filename="r.zip")
    return msg.as_bytes()


def test_zip_member_with_empty_name_is_input_error() -> None:
    data = _zip(("", REPORT))
    assert zipfile.ZipFile(io.BytesIO(data)).infolist()[0].filename == ""
    with pytest.raises(
        DMARCInputError, match=r"^zip archive has no file member: member 0 has an empty name$"
    ):
        parse_report(data)


def test_zip_empty_name_names_member_index() -> None:
    data = _zip(("reports/", b""), ("", REPORT))
    with pytest.raises(
        DMARCInputError, match=r"member 0 \('reports/'\) is a directory; member 1 has an empty name"
    ):
        unzip_bounded(data, 1 << 20)


def test_zip_empty_name_in_report_email_names_part_and_member() -> None:
    with pytest.raises(
        DMARCInputError, match=r"message part \d+ .*'r\.zip'.*member 0 has an empty name"
    ):
        parse_report(_email(_zip(("", REPORT))))


def test_zip_empty_name_beside_the_report_is_skipped() -> None:
    result = parse_report(_zip(("", b"junk"), ("report.xml", REPORT)))
    assert result.report.metadata.report_id == "z1"


def test_zip_without_members_rejected() -> None:
    empty = _zip()
    assert empty[:4] == b"PK\x05\x06"
    with pytest.raises(DMARCInputError, match=r"^zip archive has no members$"):
        parse_report(empty)
    with pytest.raises(DMARCInputError, match=r"message part \d+ .*zip archive has no members"):
        parse_report(_email(empty))


def test_zip_with_only_a_directory_rejected() -> None:
    with pytest.raises(DMARCInputError, match=r"member 0 \('d/'\) is a directory"):
        parse_report(_zip(("d/", b"")))


def test_zip_with_several_xml_members_names_them() -> None:
    with pytest.raises(
        DMARCInputError, match=r"exactly one XML member, found 2 \('a\.xml', 'b\.xml'\)"
    ):
        parse_report(_zip(("a.xml", REPORT), ("b.xml", REPORT)))


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_zip_member_limit_counts_directories_and_unnamed_members() -> None:
    members = [(f"d{i}/", b"") for i in range(10)] + [("", b"")] * 10 + [("r.xml", REPORT)]
    with pytest.raises(DMARCLimitError, match=r"^zip archive has 21 members, more than 16$"):
        parse_report(_zip(*members))


def test_zip_member_over_size_limit_named() -> None:
    limits = Limits(max_decompressed_bytes=len(REPORT) - 1)
    with pytest.raises(
        DMARCLimitError, match=rf"zip member 'r\.xml' is {len(REPORT)} bytes, more than"
    ):
        parse_report(_zip(("r.xml", REPORT)), limits=limits)


def test_zip_member_lying_about_its_size_is_bounded() -> None:
    """A central directory claiming a small size does not let more data through."""
    big = b"<feedback>" + b" " * 100_000 + b"</feedback>"
    data = bytearray(_zip(("r.xml", big)))
    cd = data.rfind(b"PK\x01\x02")
    struct.pack_into("<I", data, cd + 24, 100)  # uncompressed size
    with pytest.raises(DMARCReportError):
        parse_report(bytes(data), limits=Limits(max_decompressed_bytes=1000))


_NAMES = st.one_of(
    st.just(""),
    st.just("/"),
    st.sampled_from(["r.xml", "R.XML", "d/", "report", "a/b.xml"]),
    st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=8),
)


@given(st.lists(st.tuples(_NAMES, st.binary(max_size=64)), max_size=20, unique_by=lambda m: m[0]))
def test_zip_members_fuzz_only_package_errors(members: list[tuple[str, bytes]]) -> None:
    data = _zip(*members)
    try:
        out = unzip_bounded(data, 1000)
    except DMARCReportError as e:
        assert str(e).startswith("zip ")
    else:
        assert any(out == d for _, d in members)
