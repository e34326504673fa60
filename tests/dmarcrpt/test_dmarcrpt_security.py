"""Hostile DMARC report input: entity expansion, external entities, zip and gzip bombs."""

from __future__ import annotations

import gzip
import io
import zipfile
from email.message import EmailMessage

import pytest

from postel.dmarcrpt import (
    DMARCInputError,
    DMARCLimitError,
    ForbiddenXMLError,
    Limits,
    XMLError,
    parse_report,
)

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<feedback><report_metadata><org_name>&lol9;</org_name></report_metadata></feedback>
"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE feedback [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<feedback><report_metadata><org_name>&xxe;</org_name></report_metadata></feedback>
"""

PARAMETER_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE feedback [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/evil.dtd"> %remote;]>
<feedback/>
"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE feedback SYSTEM "http://127.0.0.1:9/feedback.dtd">
<feedback/>
"""

ATTACKS = [BILLION_LAUGHS, EXTERNAL_ENTITY, PARAMETER_ENTITY, EXTERNAL_DTD]


@pytest.mark.parametrize("doc", ATTACKS)
@pytest.mark.parametrize("strict", [False, True])
def test_dtd_and_entities_rejected(doc: bytes, strict: bool) -> None:
    with pytest.raises(ForbiddenXMLError, match="not allowed"):
        parse_report(doc, strict=strict)


@pytest.mark.parametrize("doc", ATTACKS)
def test_attacks_rejected_inside_containers(doc: bytes) -> None:
    with pytest.raises(XMLError):
        parse_report(gzip.compress(doc))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("r.xml", doc)
    with pytest.raises(XMLError):
        parse_report(buf.getvalue())
    msg = EmailMessage()
    msg["From"] = "a@example.net"
    msg.set_content("report")
    msg.add_attachment(doc, maintype="text", subtype="xml", filename="r.xml")
    with pytest.raises(XMLError):
        parse_report(msg.as_bytes())


def test_gzip_bomb_rejected() -> None:
    bomb = gzip.compress(b"<feedback>" + b" " * (51 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < 200_000
    with pytest.raises(DMARCLimitError, match="bytes in one tag, text or comment"):
        parse_report(bomb)
    # With the limit on bytes without markup lifted, the decompressed size still holds.
    with pytest.raises(DMARCLimitError, match="decompresses to more than"):
        parse_report(bomb, limits=Limits(max_stall_bytes=1 << 30))


def _zip(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(name, data)
    return buf.getvalue()


def test_zip_bomb_rejected() -> None:
    bomb = _zip("r.xml", b" " * (51 * 1024 * 1024))
    assert len(bomb) < 200_000
    with pytest.raises(DMARCLimitError, match=r"r\.xml"):
        parse_report(bomb)


def test_small_limits_apply() -> None:
    xml = b"<feedback>" + b" " * 5000 + b"</feedback>"
    limits = Limits(max_decompressed_bytes=1000)
    with pytest.raises(DMARCLimitError):
        parse_report(gzip.compress(xml), limits=limits)
    with pytest.raises(DMARCLimitError):
        parse_report(_zip("r.xml", xml), limits=limits)
    with pytest.raises(DMARCLimitError):
        parse_report(xml, limits=limits)
    with pytest.raises(DMARCLimitError, match="input larger"):
        parse_report(xml, limits=Limits(max_input_bytes=100))


def test_zip_with_many_members_rejected() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(40):
            zf.writestr(f"{i}.txt", "x")
    with pytest.raises(DMARCLimitError, match="members"):
        parse_report(buf.getvalue())


def test_encrypted_or_unsupported_zip_is_input_error() -> None:
    data = bytearray(_zip("r.xml", b"<feedback/>"))
    data[6] |= 0x01  # general purpose flag: encrypted (local header)
    cd = data.rfind(b"PK\x01\x02")
    data[cd + 8] |= 0x01  # and in the central directory
    with pytest.raises(DMARCInputError):
        parse_report(bytes(data))
