"""Report bombs as an attack on a running instance found them: small report
mails that unpack or parse into a lot.

Each builder returns a whole report message (bytes). They are written so that
building them stays cheap: the repeated content is compressed in pieces.
"""

from __future__ import annotations

import gzip
import zlib
from email.message import EmailMessage

MB = 1024 * 1024


def gzip_repeated(head: bytes, unit: bytes, size: int, tail: bytes = b"") -> bytes:
    """gzip of head + unit repeated to about *size* bytes + tail, without building it whole."""
    c = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    out = [c.compress(head)]
    per_block = max(1, MB // len(unit))
    count = size // len(unit)
    block = unit * per_block
    for _ in range(count // per_block):
        out.append(c.compress(block))
    out.append(c.compress(unit * (count % per_block)))
    out.append(c.compress(tail))
    out.append(c.flush())
    return b"".join(out)


def report_mail(parts: list[bytes], *, tlsrpt: bool) -> bytes:
    """A report message with *parts* attached as reporters attach them."""
    msg = EmailMessage()
    msg["From"] = "Reporter <reports@reporter.example>"
    msg["To"] = "reports@example.com"
    msg["Subject"] = "Report Domain: example.com Submitter: reporter.example"
    msg.set_content("A report is attached.\n")
    for i, part in enumerate(parts):
        if tlsrpt:
            msg.add_attachment(
                part, maintype="application", subtype="tlsrpt+gzip", filename=f"r{i}.json.gz"
            )
        else:
            msg.add_attachment(
                part, maintype="application", subtype="gzip", filename=f"r{i}.xml.gz"
            )
    return bytes(msg)


# --- DMARC (RFC 7489 appendix C) ---------------------------------------------------------

_METADATA = (
    b"<report_metadata><org_name>reporter.example</org_name>"
    b"<email>dmarc@reporter.example</email><report_id>1</report_id>"
    b"<date_range><begin>1700000000</begin><end>1700086399</end></date_range>"
    b"</report_metadata><policy_published><domain>example.com</domain><p>none</p>"
    b"</policy_published>"
)
_RECORD = (
    b"<record><row><source_ip>192.0.2.1</source_ip><count>1</count><policy_evaluated>"
    b"<disposition>none</disposition><dkim>pass</dkim><spf>pass</spf></policy_evaluated>"
    b"</row><identifiers><header_from>example.com</header_from></identifiers><auth_results>"
    b"<dkim><domain>example.com</domain><result>pass</result></dkim><spf>"
    b"<domain>example.com</domain><result>pass</result></spf></auth_results></record>"
)


def dmarc_empty_elements() -> bytes:
    """The issue's bomb: 50 KB of gzip holding 49 MB of tiny empty elements."""
    return report_mail(
        [gzip_repeated(b"<feedback>", b"<a/>", 49 * MB, b"</feedback>")], tlsrpt=False
    )


def dmarc_empty_elements_four_parts() -> bytes:
    """The same part four times in one mail: each failing part used to be parsed in turn."""
    part = gzip_repeated(b"<feedback>", b"<a/>", 49 * MB, b"</feedback>")
    return report_mail([part] * 4, tlsrpt=False)


def dmarc_many_failing_parts() -> bytes:
    """40 parts, each 130,000 elements and no metadata: within the limits one by one."""
    part = gzip_repeated(b"<feedback>", b"<b/>", MB // 2, b"</feedback>")
    return report_mail([part] * 40, tlsrpt=False)


def dmarc_empty_records() -> bytes:
    """Millions of empty <record/>: the record limit was checked after building them all."""
    return report_mail(
        [gzip_repeated(b"<feedback>" + _METADATA, b"<record/>", 40 * MB, b"</feedback>")],
        tlsrpt=False,
    )


def dmarc_valid_records() -> bytes:
    """About 100,000 valid records (200 KB of gzip): far more than the record limit."""
    return report_mail(
        [gzip_repeated(b"<feedback>" + _METADATA, _RECORD, 19 * MB, b"</feedback>")],
        tlsrpt=False,
    )


def dmarc_distinct_records(n: int) -> bytes:
    """A valid report of *n* records from distinct source addresses, as a real large one."""
    records = b"".join(
        _RECORD.replace(b"192.0.2.1", b"10.%d.%d.%d" % (i >> 16, (i >> 8) & 255, i & 255))
        for i in range(n)
    )
    return report_mail(
        [gzip.compress(b"<feedback>" + _METADATA + records + b"</feedback>")], tlsrpt=False
    )


def dmarc_deep() -> bytes:
    """Elements nested millions deep."""
    return report_mail([gzip_repeated(b"<feedback>", b"<a>", 19 * MB)], tlsrpt=False)


def dmarc_attributes() -> bytes:
    """One start tag with about two million attributes."""
    c = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunks = [c.compress(b"<feedback")]
    for i in range(2_000_000):
        chunks.append(c.compress(b' a%d=""' % i))
    chunks.append(c.compress(b"/>"))
    chunks.append(c.flush())
    return report_mail([b"".join(chunks)], tlsrpt=False)


# --- TLS reports (RFC 8460) ---------------------------------------------------------------


def tlsrpt_brackets_ten_parts() -> bytes:
    """The issue's bomb: 10 parts of gzip, each holding 3.3 million `[]`."""
    part = gzip.compress(b"[" + b"[]," * 3_300_000 + b"[]]", 9)
    return report_mail([part] * 10, tlsrpt=True)


def tlsrpt_brackets_thousand_parts() -> bytes:
    """About 1,000 such parts: what the 16 MB message limit allows."""
    part = gzip.compress(b"[" + b"[]," * 3_300_000 + b"[]]", 9)
    return report_mail([part] * 1000, tlsrpt=True)


def tlsrpt_numbers() -> bytes:
    """Five million floats in one array."""
    return report_mail([gzip_repeated(b"[", b"1.5,", 9 * MB, b"1.5]")], tlsrpt=True)


def tlsrpt_many_failing_parts() -> bytes:
    """40 parts of 6 MB of JSON, none a report: within the limits one by one."""
    unit = b'"' + b"a" * 60 + b'",'
    part = gzip_repeated(b'{"x":[', unit, 6 * MB, b'""]}')
    return report_mail([part] * 40, tlsrpt=True)
