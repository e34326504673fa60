"""The searchable text of a message body (for the full-text index, store/search.py).

Pure: bytes in, text out. The text parts that are not attachments, decoded
(RFC 2045 §6 transfer encodings, RFC 2046 §4.1.2 charsets); HTML reduced to
its text. Bounded: only the first READ_LIMIT bytes of a message are parsed and
at most TEXT_LIMIT characters kept, so a huge message costs no more than a
large one.
"""

from __future__ import annotations

import email
import email.policy
import html
import re
from email.message import Message

READ_LIMIT = 1024 * 1024  # bytes of a message parsed for its text
TEXT_LIMIT = 64 * 1024  # characters of body text indexed per message

_FOLD = re.compile(rb"\r?\n[ \t]+")
_CTYPE = re.compile(rb"^content-type:[ \t]*([^;\r\n]*)(.*)$", re.IGNORECASE | re.MULTILINE)
_CTE = re.compile(rb"^content-transfer-encoding:[ \t]*(\S*)", re.IGNORECASE | re.MULTILINE)
_CHARSET = re.compile(rb';[ \t]*charset[ \t]*=[ \t]*"?([A-Za-z0-9_.:+-]+)', re.IGNORECASE)
_TAGS = re.compile(r"<(script|style)\b.*?</\1\s*>|<[^>]*>", re.IGNORECASE | re.DOTALL)
_SPACE = re.compile(r"\s+")


def html_text(markup: str) -> str:
    """The text of an HTML part: scripts, styles and tags dropped, entities decoded."""
    return html.unescape(_TAGS.sub(" ", markup))


def _decoded(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "us-ascii"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:  # an unknown charset name
        return payload.decode("utf-8", errors="replace")


def _plain_body(data: bytes) -> str | None:
    """The body of a single-part text/plain message that needs no decoding (no
    Content-Type, RFC 2045 §5.2, or text/plain; 7bit or 8bit, §6.1): most mail,
    and the email package costs about 0.15 ms per message. None for the rest."""
    ends = [i for i in (data.find(b"\r\n\r\n"), data.find(b"\n\n")) if i >= 0]
    if not ends:
        return None
    end = min(ends)
    head = _FOLD.sub(b" ", data[:end])
    ctype = _CTYPE.search(head)
    if ctype is not None and ctype.group(1).strip().lower() not in (b"text/plain", b""):
        return None
    cte = _CTE.search(head)
    if cte is not None and cte.group(1).lower() not in (b"7bit", b"8bit", b""):
        return None
    charset = "us-ascii"
    if ctype is not None and (m := _CHARSET.search(ctype.group(2))) is not None:
        charset = m.group(1).decode("ascii")
    body = data[end:READ_LIMIT]
    try:
        return body.decode(charset, errors="replace")
    except LookupError:  # an unknown charset name
        return body.decode("utf-8", errors="replace")


def body_text(data: bytes) -> str:
    """The searchable body text of the raw message *data* (may be a prefix)."""
    plain = _plain_body(data)
    if plain is not None:
        return _SPACE.sub(" ", plain[: TEXT_LIMIT * 2]).strip()[:TEXT_LIMIT]
    msg = email.message_from_bytes(data[:READ_LIMIT], policy=email.policy.compat32)
    out: list[str] = []
    size = 0
    for part in msg.walk():
        if part.is_multipart():
            continue
        if part.get_content_maintype() != "text":
            continue
        if (part.get("content-disposition") or "").strip().lower().startswith("attachment"):
            continue
        text = _decoded(part)
        if part.get_content_subtype() == "html":
            text = html_text(text)
        text = _SPACE.sub(" ", text).strip()
        if text:
            out.append(text)
            size += len(text)
            if size >= TEXT_LIMIT:
                break
    return " ".join(out)[:TEXT_LIMIT]
