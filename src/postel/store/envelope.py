"""Envelope headers of a message, parsed once at delivery for the index.

Only the header block is read (bounded, :data:`HEADER_LIMIT`), parsed with
the email package's default policy. Bad input never fails a delivery: a
header that cannot be parsed is kept as its raw (decoded) text or left empty.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from typing import BinaryIO

from postel.store.headerscan import plain_content_type, plain_date, scan_plain

HEADER_LIMIT = 256 * 1024
FIELD_LIMIT = 2000  # characters kept per header value in the index

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_FOLD = re.compile(r"\s*[\r\n]+\s*")


@dataclass(frozen=True)
class Envelope:
    subject: str = ""
    from_: str = ""
    to: str = ""
    cc: str = ""
    date: datetime | None = None
    message_id: str = ""
    in_reply_to: str = ""
    has_attachments: bool = False
    references: str = ""  # for threading (store/threads.py), not stored


def header_block(data: bytes) -> bytes:
    """The header section of *data* (RFC 5322 §2.1), without the empty line.

    If no empty line is found, everything up to the last complete line is
    taken (the data may be a truncated prefix of the message)."""
    if data.startswith((b"\r\n", b"\n")):
        return b""
    crlf = data.find(b"\r\n\r\n")
    # An LF LF before the CRLF CRLF starts at most at its CR: search no further.
    lf = data.find(b"\n\n", 0, crlf + 2 if crlf >= 0 else len(data))
    ends = [i for i in (crlf, lf) if i >= 0]
    if ends:
        return data[: min(ends)]
    last = data.rfind(b"\n")
    return data[: last + 1] if last >= 0 else data


def read_header_block(fp: BinaryIO, limit: int = HEADER_LIMIT) -> bytes:
    """Read at most *limit* bytes of *fp* and return its header block."""
    return header_block(fp.read(limit))


def _clean(value: str) -> str:
    value = _FOLD.sub(" ", value)
    value = _CONTROL.sub("", value).strip()
    return value[:FIELD_LIMIT]


def _text(msg: EmailMessage, name: str) -> str:
    try:
        value = msg.get(name)
    except Exception:  # the default policy can raise on pathological input
        value = None
    if value is None:
        raw = _raw(msg, name)
        return _clean(raw) if raw is not None else ""
    try:
        return _clean(str(value))
    except Exception:
        raw = _raw(msg, name)
        return _clean(raw) if raw is not None else ""


def _raw(msg: EmailMessage, name: str) -> str | None:
    for key, value in msg.raw_items():
        if key.lower() == name.lower():
            return str(value)
    return None


def _date(msg: EmailMessage) -> datetime | None:
    try:
        header = msg.get("Date")
        when = getattr(header, "datetime", None)
    except Exception:
        return None
    if not isinstance(when, datetime):
        return None
    if when.tzinfo is None:  # "-0000": no zone information (RFC 5322 §3.3)
        when = when.replace(tzinfo=UTC)
    return when


def _has_attachments(msg: EmailMessage) -> bool:
    """A header-only guess: multipart/mixed, an attachment disposition, or a
    non-text single part (RFC 2183, RFC 2046 §5.1.3)."""
    try:
        ctype = msg.get_content_type()
        disposition = msg.get_content_disposition()
    except Exception:
        return False
    if disposition == "attachment":
        return True
    if ctype == "multipart/mixed":
        return True
    maintype = ctype.partition("/")[0]
    return maintype not in ("text", "multipart")


def _parse_plain(block: bytes) -> Envelope | None:
    """The same Envelope as the email package gives, for plain header blocks
    (postel.store.headerscan); None when the block is not plain."""
    plain = scan_plain(block)
    if plain is None:
        return None
    fields = plain.fields
    from_ = plain.addresses("from")
    to = plain.addresses("to")
    cc = plain.addresses("cc")
    message_id = plain.message_id("message-id")
    ctype = plain_content_type(fields.get("content-type"))
    if (
        from_ is None
        or to is None
        or cc is None
        or message_id is None
        or ctype is None
        or "content-disposition" in fields
    ):
        return None
    date = fields.get("date")
    when = plain_date(date) if date is not None else None
    if isinstance(when, datetime):
        if when.tzinfo is None:  # "-0000": no zone information (RFC 5322 §3.3)
            when = when.replace(tzinfo=UTC)
    else:
        when = None
    subject = fields.get("subject")
    in_reply_to = fields.get("in-reply-to")
    references = fields.get("references")
    return Envelope(
        subject=_clean(subject) if subject is not None else "",
        from_=_clean(from_),
        to=_clean(to),
        cc=_clean(cc),
        date=when,
        message_id=_clean(message_id),
        in_reply_to=_clean(in_reply_to) if in_reply_to is not None else "",
        has_attachments=ctype == "multipart/mixed"
        or ctype.partition("/")[0] not in ("text", "multipart"),
        references=_clean(references) if references is not None else "",
    )


def parse_envelope(block: bytes) -> Envelope:
    """Parse a header block; never raises on bad input."""
    if not block.strip():
        return Envelope()
    fast = _parse_plain(block)
    if fast is not None:
        return fast
    return parse_envelope_email(block)


def parse_envelope_email(block: bytes) -> Envelope:
    """parse_envelope with the email package for every block (the reference)."""
    if not block.strip():
        return Envelope()
    try:
        parsed = BytesHeaderParser(policy=default_policy).parsebytes(block)
    except Exception:
        return Envelope()
    assert isinstance(parsed, EmailMessage)
    return Envelope(
        subject=_text(parsed, "Subject"),
        from_=_text(parsed, "From"),
        to=_text(parsed, "To"),
        cc=_text(parsed, "Cc"),
        date=_date(parsed),
        message_id=_text(parsed, "Message-ID"),
        in_reply_to=_text(parsed, "In-Reply-To"),
        has_attachments=_has_attachments(parsed),
        references=_text(parsed, "References"),
    )
