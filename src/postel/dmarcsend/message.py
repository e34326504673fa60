"""The report e-mail (RFC 7489 §7.2.1.1): a text part and the gzipped XML as
application/gzip attachment, bytes with CRLF line endings (pure)."""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import secrets

from postel.dmarcsend.build import BuiltReport
from postel.tlsrptsend.message import CRLF, fold


def _base64(data: bytes) -> bytes:
    """Base64 in lines of 76 characters (RFC 2045 §6.8)."""
    enc = base64.b64encode(data)
    return b"".join(enc[i : i + 76] + CRLF for i in range(0, len(enc), 76))


def subject(r: BuiltReport) -> str:
    """RFC 7489 §7.2.1.1: `Report Domain: <d> Submitter: <s> Report-ID: <<id>>`."""
    return (
        f"Report Domain: {r.policy_domain} Submitter: {r.submitter} "
        f"Report-ID: <{r.report.metadata.report_id}>"
    )


def text_body(r: BuiltReport) -> str:
    md = r.report.metadata
    begin = dt.datetime.fromtimestamp(md.date_range.begin, dt.UTC)
    end = dt.datetime.fromtimestamp(md.date_range.end, dt.UTC)
    return (
        "This is a DMARC aggregate report (RFC 7489, RFC 9990) about mail that\n"
        f"{r.submitter} received from {r.policy_domain} and its subdomains.\n"
        "\n"
        f"Report Domain: {r.policy_domain}\n"
        f"Submitter: {r.submitter}\n"
        f"Report-ID: <{md.report_id}>\n"
        f"Period: {begin:%Y-%m-%dT%H:%M:%SZ} - {end:%Y-%m-%dT%H:%M:%SZ}\n"
        f"Messages: {r.report.message_count()}\n"
        "\n"
        f"The report is attached as {r.filename}.\n"
    )


def compose(
    r: BuiltReport,
    *,
    from_addr: str,
    to_addr: str,
    date: dt.datetime,
    message_id: str | None = None,
    boundary: str | None = None,
) -> bytes:
    """The unsigned report message."""
    boundary = boundary or "dmarc-" + secrets.token_hex(12)
    message_id = message_id or f"<{secrets.token_hex(16)}@{r.submitter}>"
    headers = [
        fold("From", f"<{from_addr}>"),
        fold("To", f"<{to_addr}>"),
        fold("Subject", subject(r)),
        fold("Date", email.utils.format_datetime(date.astimezone(dt.UTC))),
        fold("Message-ID", message_id),
        fold("MIME-Version", "1.0"),
        fold("Content-Type", f'multipart/mixed; boundary="{boundary}"'),
    ]
    b = boundary.encode("ascii")
    return b"".join(
        [
            *headers,
            CRLF,
            b"This is a multipart message in MIME format." + CRLF,
            CRLF,
            b"--" + b + CRLF,
            b"Content-Type: text/plain; charset=us-ascii" + CRLF,
            b"Content-Transfer-Encoding: 7bit" + CRLF,
            CRLF,
            text_body(r).replace("\n", "\r\n").encode("ascii", "replace"),
            CRLF,
            b"--" + b + CRLF,
            fold("Content-Type", f'application/gzip; name="{r.filename}"'),
            fold("Content-Disposition", f'attachment; filename="{r.filename}"'),
            b"Content-Transfer-Encoding: base64" + CRLF,
            CRLF,
            _base64(r.gzipped),
            CRLF,
            b"--" + b + b"--" + CRLF,
        ]
    )
