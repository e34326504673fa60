"""Reading a delivered message for intake: bounded read, header From (pure parts)."""

from __future__ import annotations

import email.parser
import email.policy
import email.utils
from pathlib import Path

from postel.errors import LimitError


class TooLarge(LimitError):
    """A report message larger than the intake reads."""


def read_bounded(path: Path, max_bytes: int) -> bytes:
    """The file's bytes; TooLarge when it holds more than *max_bytes*."""
    with path.open("rb") as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise TooLarge(
            f"{path}: message larger than {max_bytes} bytes", limit="message size", value=max_bytes
        )
    return data


def header_from(data: bytes) -> str:
    """The address in the message's From header (RFC 5322 §3.6.2), or ""."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        end = data.find(b"\n\n")
    head = data if end < 0 else data[: end + 2]
    try:
        msg = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(head)
        value = msg.get("From")
        if value is None:
            return ""
        _, addr = email.utils.parseaddr(str(value))
    except (ValueError, TypeError, LookupError, IndexError):
        return ""
    return addr[:320]
