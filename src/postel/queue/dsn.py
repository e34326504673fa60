"""Delivery status notifications (RFC 3464, RFC 3462 multipart/report; pure).

A DSN is multipart/report; report-type=delivery-status with a human-readable
part, a message/delivery-status part (RFC 3464 §2) and the original header
as text/rfc822-headers. With non-ASCII addresses or headers the SMTPUTF8
variants message/global-delivery-status and message/global-headers are used
(RFC 6533 §6).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import os
from dataclasses import dataclass
from email.header import Header
from typing import Literal

from postel.queue.headers import split_header

Action = Literal["failed", "delayed"]
MAX_LINE = 900


@dataclass(frozen=True)
class DSNRecipient:
    rcpt: str
    action: Action
    status: str  # RFC 3463 enhanced status, e.g. 5.1.1
    code: int = 0  # SMTP reply code of the remote MTA, 0 if none
    enhanced: str = ""
    message: str = ""  # reply text or local error
    remote_mta: str = ""
    last_attempt: dt.datetime | None = None
    will_retry_until: dt.datetime | None = None


@dataclass(frozen=True)
class DSNInput:
    reporting_mta: str  # our host name
    mail_from: str  # the original sender: the DSN's To
    arrival: dt.datetime
    original: bytes  # the original message's header block (or more: cut here)
    recipients: list[DSNRecipient]
    now: dt.datetime
    subject: str = ""
    message_id: str = ""


def _clean(text: str, ascii_only: bool) -> str:
    text = " ".join(text.split())
    if ascii_only:
        text = text.encode("ascii", "replace").decode("ascii")
    return text[:MAX_LINE]


def _date(t: dt.datetime) -> str:
    return email.utils.format_datetime(t.astimezone(dt.UTC))


def _address_type(addr: str) -> str:
    # RFC 6533 §3: "utf-8" address type for internationalised addresses.
    return f"rfc822; {addr}" if addr.isascii() else f"utf-8; {addr}"


def status_for(rcpt: DSNRecipient) -> str:
    return rcpt.status or ("5.0.0" if rcpt.action == "failed" else "4.0.0")


def delivery_status(inp: DSNInput, global_: bool) -> str:
    """The message/delivery-status body (RFC 3464 §2.1: per-message, then per-recipient)."""
    lines = [
        f"Reporting-MTA: dns; {inp.reporting_mta}",
        f"Arrival-Date: {_date(inp.arrival)}",
    ]
    for r in inp.recipients:
        lines.append("")
        lines.append(f"Final-Recipient: {_address_type(r.rcpt)}")
        lines.append(f"Action: {r.action}")
        lines.append(f"Status: {status_for(r)}")
        if r.remote_mta:
            lines.append(f"Remote-MTA: dns; {r.remote_mta}")
        if r.code:
            text = _clean(
                " ".join(x for x in (str(r.code), r.enhanced, r.message) if x), not global_
            )
            lines.append(f"Diagnostic-Code: smtp; {text}")
        elif r.message:
            lines.append(f"X-Postel-Diagnostic: {_clean(r.message, not global_)}")
        if r.last_attempt is not None:
            lines.append(f"Last-Attempt-Date: {_date(r.last_attempt)}")
        if r.will_retry_until is not None:
            lines.append(f"Will-Retry-Until: {_date(r.will_retry_until)}")
    return "\r\n".join(lines) + "\r\n"


def human_text(inp: DSNInput) -> str:
    failed = [r for r in inp.recipients if r.action == "failed"]
    delayed = [r for r in inp.recipients if r.action == "delayed"]
    out = [f"This is the mail system at {inp.reporting_mta}.", ""]
    if failed:
        out.append("Your message could not be delivered to these recipients:")
        out.append("")
        for r in failed:
            out.append(f"  {r.rcpt}: {_describe(r)}")
        out.append("")
    if delayed:
        out.append("Your message has not been delivered yet to these recipients.")
        out.append("Delivery is still being attempted; you do not need to resend it.")
        out.append("")
        for r in delayed:
            until = f" (retrying until {_date(r.will_retry_until)})" if r.will_retry_until else ""
            out.append(f"  {r.rcpt}: {_describe(r)}{until}")
        out.append("")
    out.append("The header of your message is attached.")
    return "\r\n".join(out) + "\r\n"


def _describe(r: DSNRecipient) -> str:
    parts = []
    if r.remote_mta:
        parts.append(f"{r.remote_mta} said:")
    if r.code:
        parts.append(str(r.code))
    if r.enhanced:
        parts.append(r.enhanced)
    if r.message:
        parts.append(r.message)
    return _clean(" ".join(parts), False) or "no details"


def _subject(inp: DSNInput) -> str:
    failed = any(r.action == "failed" for r in inp.recipients)
    prefix = "Undelivered mail returned to sender" if failed else "Delivery delayed"
    text = f"{prefix}: {inp.subject}" if inp.subject else prefix
    text = _clean(text, False)
    if text.isascii():
        return text
    return Header(text, "utf-8").encode()


def build_dsn(inp: DSNInput) -> bytes:
    """The complete DSN message (CRLF line endings) to deliver to inp.mail_from."""
    if not inp.recipients:
        raise ValueError("a DSN needs at least one recipient")
    header = split_header(inp.original).rstrip(b"\r\n")
    header = b"\r\n".join(header.splitlines()) + b"\r\n"
    global_ = (
        not header.isascii()
        or not inp.mail_from.isascii()
        or any(not r.rcpt.isascii() for r in inp.recipients)
    )
    boundary = "postel-dsn-" + os.urandom(12).hex()
    status_type = "message/global-delivery-status" if global_ else "message/delivery-status"
    headers_type = "message/global-headers" if global_ else "text/rfc822-headers"
    human = human_text(inp)
    status = delivery_status(inp, global_)
    top = [
        f"From: Mail Delivery System <postmaster@{inp.reporting_mta}>",
        f"To: <{inp.mail_from}>",
        f"Subject: {_subject(inp)}",
        f"Date: {_date(inp.now)}",
        f"Message-ID: <dsn-{os.urandom(12).hex()}@{inp.reporting_mta}>",
    ]
    if inp.message_id:
        top.append(f"In-Reply-To: {inp.message_id}")
        top.append(f"References: {inp.message_id}")
    top += [
        # RFC 3834 §5: automatic responses are marked so they are not answered.
        "Auto-Submitted: auto-replied",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"',
        "",
        "This is a MIME-encapsulated delivery status notification.",
        "",
        f"--{boundary}",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: " + ("7bit" if human.isascii() else "8bit"),
        "Content-Description: Notification",
        "",
    ]
    body = "\r\n".join(top) + "\r\n" + human
    body += "\r\n".join(
        [
            f"--{boundary}",
            f"Content-Type: {status_type}",
            "Content-Description: Delivery status",
            "",
            "",
        ]
    )
    body += status
    body += "\r\n".join(
        [
            f"--{boundary}",
            f"Content-Type: {headers_type}",
            "Content-Description: Header of the original message",
            "",
            "",
        ]
    )
    tail = f"\r\n--{boundary}--\r\n".encode()
    return body.encode("utf-8") + header + tail
