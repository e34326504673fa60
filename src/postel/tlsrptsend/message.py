"""The report e-mail (RFC 8460 §5.3): multipart/report with a text part and the
gzipped JSON, as bytes with CRLF line endings; DKIM signing (pure)."""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import secrets
from dataclasses import replace

from postel.auth import DKIMSigner, sign_message
from postel.tlsrpt.report import format_datetime
from postel.tlsrptsend.build import BuiltReport

CRLF = b"\r\n"
# RFC 8460 §5.3: these must be covered by the DKIM signature.
REPORT_HEADERS = ("TLS-Report-Domain", "TLS-Report-Submitter")


def subject(r: BuiltReport) -> str:
    """RFC 8460 §5.3 subject: `Report Domain: <pd> Submitter: <sub> Report-ID: <<id>>`."""
    return (
        f"Report Domain: {r.policy_domain} Submitter: {r.submitter} "
        f"Report-ID: <{r.report.report_id}>"
    )


def fold(name: str, value: str, width: int = 78) -> bytes:
    """One header field, folded at spaces to keep lines under *width* (RFC 5322 §2.2.3)."""
    words = value.split(" ")
    lines: list[str] = []
    line = f"{name}:"
    for w in words:
        if len(line) + 1 + len(w) > width and line.strip() and line != f"{name}:":
            lines.append(line)
            line = " " + w
        else:
            line += " " + w
    lines.append(line)
    return "\r\n".join(lines).encode("ascii") + CRLF


def text_body(r: BuiltReport) -> str:
    rep = r.report
    return (
        "This is an aggregate TLS report (RFC 8460) about SMTP connections from\n"
        f"{r.submitter} to mail servers of {r.policy_domain}.\n"
        "\n"
        f"Report Domain: {r.policy_domain}\n"
        f"Submitter: {r.submitter}\n"
        f"Report-ID: <{rep.report_id}>\n"
        f"Period: {format_datetime(rep.date_range.start)} - "
        f"{format_datetime(rep.date_range.end)}\n"
        f"Successful sessions: {rep.total_successes()}\n"
        f"Failed sessions: {rep.total_failures()}\n"
        "\n"
        f"The report is attached as {r.filename}.\n"
    )


def _b64_lines(data: bytes) -> bytes:
    enc = base64.b64encode(data)
    return b"".join(enc[i : i + 76] + CRLF for i in range(0, len(enc), 76))


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
    boundary = boundary or "tlsrpt-" + secrets.token_hex(12)
    message_id = message_id or f"<{secrets.token_hex(16)}@{r.submitter}>"
    headers = [
        fold("From", f"<{from_addr}>"),
        fold("To", f"<{to_addr}>"),
        fold("Subject", subject(r)),
        fold("Date", email.utils.format_datetime(date.astimezone(dt.UTC))),
        fold("Message-ID", message_id),
        fold("TLS-Report-Domain", r.policy_domain),
        fold("TLS-Report-Submitter", r.submitter),
        # RFC 8460 §5.3 / RFC 8689 §5: reports must get through even over bad TLS.
        fold("TLS-Required", "No"),
        fold("MIME-Version", "1.0"),
        fold("Content-Type", f'multipart/report; report-type="tlsrpt"; boundary="{boundary}"'),
    ]
    text = text_body(r).replace("\n", "\r\n").encode("ascii")
    b = boundary.encode("ascii")
    parts = [
        b"".join(headers),
        CRLF,
        b"This is a multipart message in MIME format." + CRLF,
        CRLF,
        b"--" + b + CRLF,
        b"Content-Type: text/plain; charset=us-ascii" + CRLF,
        b"Content-Transfer-Encoding: 7bit" + CRLF,
        CRLF,
        text,
        CRLF,
        b"--" + b + CRLF,
        fold("Content-Type", f'application/tlsrpt+gzip; name="{r.filename}"'),
        fold("Content-Disposition", f'attachment; filename="{r.filename}"'),
        b"Content-Transfer-Encoding: base64" + CRLF,
        CRLF,
        _b64_lines(r.gzipped),
        CRLF,
        b"--" + b + b"--" + CRLF,
    ]
    return b"".join(parts)


def with_report_headers(signer: DKIMSigner) -> DKIMSigner:
    """The signer with TLS-Report-Domain and TLS-Report-Submitter added to every
    selector's signed headers (RFC 8460 §5.3)."""
    sels = []
    for s in signer.selectors:
        have = {h.lower() for h in s.headers}
        extra = tuple(h for h in REPORT_HEADERS if h.lower() not in have)
        sels.append(replace(s, headers=s.headers + extra))
    return replace(signer, selectors=tuple(sels))


def sign(signer: DKIMSigner, message: bytes) -> bytes:
    """DKIM-sign the report message, including the two TLS-Report headers."""
    return sign_message(with_report_headers(signer), message)
