"""The report e-mail (RFC 7489 §7.2.1.1): a text part and the gzipped XML as
application/gzip attachment, bytes with CRLF line endings (pure)."""

from __future__ import annotations

import datetime as dt
import email.utils
import secrets

from postel.dmarcsend.build import BuiltReport
from postel.reportmail import fold, report_message


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
    return report_message(
        headers,
        boundary=boundary,
        text=text_body(r).replace("\n", "\r\n").encode("ascii", "replace"),
        attachment_type="application/gzip",
        filename=r.filename,
        data=r.gzipped,
    )
