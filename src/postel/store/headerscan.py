"""A fast scan of plain header blocks for the index (RFC 5322 §2.2, §3.4, §3.6).

The email package's header registry costs about a sixth of the CPU of an
incoming delivery (BENCHMARKS.md). Most header blocks are plain: ASCII, no
encoded words, no quoted strings or comments in addresses. For those, the
strings the registry would produce are known exactly and are built here; for
anything else :func:`scan_plain` returns None and the email package is used.
The equivalence is tested against the email package (tests/store).
"""

from __future__ import annotations

import re
from email.utils import parsedate_to_datetime

# A header field line as email.feedparser accepts it (headerRE), value part.
_FIELD = re.compile(r"([\x21-\x39\x3b-\x7e]+):(.*)")
# A line with printable ASCII and tabs only (no other controls, which
# str.splitlines or the registry would treat specially).
_PLAIN_LINE = re.compile(r"[\x20-\x7e\t]*")
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_ATOM = rf"{_ATOM}(?:\.{_ATOM})*"
_ADDR = rf"{_DOT_ATOM}@{_DOT_ATOM}"
# Display names: atoms separated by single spaces (no specials, no quotes).
_MAILBOX = re.compile(
    rf"[ \t]*(?:((?:{_ATOM} )*{_ATOM}) ?)?<({_ADDR})>[ \t]*|[ \t]*({_ADDR})[ \t]*"
)
_MSGID = re.compile(rf"[ \t]*<{_ADDR}>[ \t]*")
_TOKEN = r"[A-Za-z0-9!#$%&'*+.^_`|~-]+"
_CTYPE = re.compile(rf"[ \t]*({_TOKEN}/{_TOKEN})[ \t]*")

WANTED = frozenset(
    ("subject", "from", "to", "cc", "date", "message-id", "in-reply-to", "references",
     "content-type", "content-disposition")
)  # fmt: skip


class Plain:
    """First occurrence of each wanted field, unfolded (email.policy.default
    header_source_parse + header_fetch_parse)."""

    __slots__ = ("fields",)

    def __init__(self, fields: dict[str, str]) -> None:
        self.fields = fields

    def unstructured(self, name: str) -> str | None:
        """Subject, In-Reply-To: the value as is (no encoded words: checked)."""
        return self.fields.get(name)

    def addresses(self, name: str) -> str | None:
        """From/To/Cc as the registry renders them; None: not plain."""
        value = self.fields.get(name)
        if value is None:
            return ""
        out = []
        for item in value.split(","):
            m = _MAILBOX.fullmatch(item)
            if m is None:
                return None
            display, angle, bare = m.groups()
            if bare is not None:
                out.append(bare)
            elif display:
                out.append(f"{display} <{angle}>")
            else:
                out.append(angle)
        return ", ".join(out)

    def message_id(self, name: str) -> str | None:
        value = self.fields.get(name)
        if value is None:
            return ""
        return value.strip(" \t") if _MSGID.fullmatch(value) else None


def scan_plain(block: bytes) -> Plain | None:
    """The wanted fields of *block* if it is plain, else None."""
    if not block.isascii() or b"=?" in block:
        return None
    text = block.decode("ascii")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    fields: dict[str, str] = {}
    current: str | None = None  # wanted field being continued
    parts: list[str] = []
    first = True
    for line in lines:
        line = line.removesuffix("\r")
        if not _PLAIN_LINE.fullmatch(line):
            return None  # bare CR, other controls
        if line[:1] in (" ", "\t"):
            if first:
                return None
            if current is not None:
                parts.append(line)
            continue
        first = False
        if current is not None:
            fields[current] = "".join(parts)
            current = None
        m = _FIELD.fullmatch(line)
        if m is None:
            return None  # "From " lines, body start without separator, ...
        name = m.group(1).lower()
        if name in WANTED and name not in fields:
            current = name
            parts = [m.group(2).lstrip(" \t")]
    if current is not None:
        fields[current] = "".join(parts)
    return Plain(fields)


def plain_date(value: str) -> object:
    """What DateHeader.datetime would be for *value* (None when invalid)."""
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except Exception:
        return None


def plain_content_type(value: str | None) -> str | None:
    """get_content_type() for a plain value; None: not plain."""
    if value is None:
        return "text/plain"
    m = _CTYPE.fullmatch(value)
    return m.group(1).lower() if m else None
