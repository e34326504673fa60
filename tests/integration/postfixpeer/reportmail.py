"""Report messages as reporters send them, for tests (RFC 8460 §5.3, RFC 7489 §7.2.1.1)."""

from __future__ import annotations

import gzip
from email.message import EmailMessage
from email.utils import formatdate, make_msgid


def _base(mail_from: str, rcpt: str, subject: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = mail_from
    msg["To"] = rcpt
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=mail_from.rpartition("@")[2] or "reporter.test")
    return msg


def tlsrpt_mail(report: bytes, mail_from: str, rcpt: str, *, gzipped: bool = True) -> bytes:
    """multipart/report; report-type="tlsrpt" with the report as application/tlsrpt+gzip
    (or +json), as RFC 8460 §5.3 describes."""
    domain = rcpt.rpartition("@")[2]
    msg = _base(mail_from, rcpt, f"Report Domain: {domain} Submitter: reporter.test")
    msg["TLS-Report-Domain"] = domain
    msg["TLS-Report-Submitter"] = "reporter.test"
    msg.set_content("This is an aggregate TLS report.\n")
    data = gzip.compress(report) if gzipped and report[:2] != b"\x1f\x8b" else report
    subtype = "tlsrpt+gzip" if data[:2] == b"\x1f\x8b" else "tlsrpt+json"
    name = "reporter.test!" + domain + ("!report.json.gz" if "gzip" in subtype else "!report.json")
    msg.add_attachment(data, maintype="application", subtype=subtype, filename=name)
    boundary = msg.get_boundary()
    msg.replace_header(
        "Content-Type", f'multipart/report; report-type="tlsrpt"; boundary="{boundary}"'
    )
    return msg.as_bytes()


def dmarc_mail(data: bytes, filename: str, mail_from: str, rcpt: str) -> bytes:
    """A DMARC aggregate report: the file attached as text/xml, application/gzip or zip."""
    domain = rcpt.rpartition("@")[2]
    msg = _base(mail_from, rcpt, f"Report Domain: {domain} Submitter: reporter.test")
    msg.set_content("This is a DMARC aggregate report.\n")
    if data[:2] == b"\x1f\x8b":
        maintype, subtype = "application", "gzip"
    elif data[:4] == b"PK\x03\x04":
        maintype, subtype = "application", "zip"
    else:
        maintype, subtype = "text", "xml"
    msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes()
