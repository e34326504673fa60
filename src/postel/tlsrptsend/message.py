"""The report e-mail (RFC 8460 §5.3): multipart/report with a text part and the
gzipped JSON, as bytes with CRLF line endings; DKIM signing (pure)."""

from __future__ import annotations

import datetime as dt
import email.utils
import secrets
from dataclasses import replace

from postel.auth import DKIMSigner, sign_message
from postel.reportmail import fold, report_message
from postel.tlsrpt.report import format_datetime
from postel.tlsrptsend.build import BuiltReport

# RFC 8460 §5.3: these must be covered by the DKIM signature.
REPORT_HEADERS = ("TLS-Report-Domain", "TLS-Report-Submitter")


def subject(r: BuiltReport) -> str:
    """RFC 8460 §5.3 subject: `Report Domain: <pd> Submitter: <sub> Report-ID: <<id>>`."""
    return (
        f"Report Domain: {r.policy_domain} Submitter: {r.submitter} "
        f"Report-ID: <{r.report.report_id}>"
    )


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
    return report_message(
        headers,
        boundary=boundary,
        text=text_body(r).replace("\n", "\r\n").encode("ascii"),
        attachment_type="application/tlsrpt+gzip",
        filename=r.filename,
        data=r.gzipped,
    )


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
