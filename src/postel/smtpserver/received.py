"""The Received trace header (RFC 5321 §4.4, RFC 3848 and RFC 6531 §3.7.3 protocol types)."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime

_UNSAFE = re.compile(r"[^A-Za-z0-9.:\[\]_-]")
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def date_time(when: datetime) -> str:
    """RFC 5322 §3.3 date-time, the same text as email.utils.format_datetime.

    UTC times (what the server passes) are formatted directly: format_datetime
    goes through timetuple and strftime("%z"), several times slower (BENCHMARKS.md).
    """
    if when.tzinfo is not UTC:
        return format_datetime(when)
    return (
        f"{_DAYS[when.weekday()]}, {when.day:02d} {_MONTHS[when.month - 1]} {when.year:04d} "
        f"{when.hour:02d}:{when.minute:02d}:{when.second:02d} +0000"
    )


# The same HELO and host names come again and again: cached (BENCHMARKS.md).
@functools.lru_cache(maxsize=256)
def _clean(value: str) -> str:
    """A HELO name or host name made safe for the header (no comments, no spaces)."""
    cleaned = _UNSAFE.sub("_", value)[:255]
    return cleaned or "_"


def protocol_type(*, ehlo: bool, tls: bool, authenticated: bool, smtputf8: bool) -> str:
    """SMTP, ESMTP[S][A] (RFC 3848) or UTF8SMTP[S][A] (RFC 6531 §3.7.3)."""
    if not ehlo:
        return "SMTP"
    base = "UTF8SMTP" if smtputf8 else "ESMTP"
    return base + ("S" if tls else "") + ("A" if authenticated else "")


@dataclass(frozen=True)
class ReceivedInfo:
    helo: str
    ip: str
    rdns: str | None
    hostname: str
    protocol: str
    cid: str
    recipient: str | None  # only given for a single recipient (privacy)
    tls_version: str | None
    tls_cipher: str | None
    when: datetime


def received_header(info: ReceivedInfo) -> str:
    """``Received: from <helo> (<rdns> [<ip>]) by <host> (postel) with ... ; <date>``

    Folded at the clause boundaries, terminated by CRLF.
    """
    remote = f"{_clean(info.rdns)} [{info.ip}]" if info.rdns else f"[{info.ip}]"
    parts = [
        f"Received: from {_clean(info.helo)} ({remote})",
        f"by {_clean(info.hostname)} (postel)",
    ]
    with_clause = f"with {info.protocol}"
    if info.tls_version:
        with_clause += f" (using {info.tls_version} with cipher {_clean(info.tls_cipher or '')})"
    parts.append(with_clause)
    parts.append(f"id {info.cid}")
    if info.recipient:
        parts[-1] += f" for {info.recipient}"
    parts[-1] += ";"
    parts.append(date_time(info.when))
    return "\r\n\t".join(parts) + "\r\n"
