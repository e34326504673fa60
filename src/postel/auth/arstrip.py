"""Removing Authentication-Results fields that claim to be ours (RFC 8601 §5).

A receiving MTA "MUST delete any discovered instance of this header field that
claims, by virtue of its authentication service identifier, to have been added
within its trust boundary" before adding its own; otherwise a sender could plant
``Authentication-Results: <our host>; dmarc=pass`` and a reader's client would
trust it. The authserv-id is compared case-insensitively (it is a domain name
by convention, RFC 8601 §2.5), unquoted and after comments (CFWS, RFC 5322
§3.2.2), in every such field of the header section, wherever it is.

For the same reason postel's own trace fields of the junk filter
(OWN_TRACE_FIELDS: DNSBL listings, rspamd's verdict) are removed from what
arrives, whatever their value: only the ones postel adds on top count.
"""

from __future__ import annotations

import re

# Header sections up to this size are checked with a lower-cased copy first.
_QUICK_CHECK_LIMIT = 256 * 1024
_FIELD = re.compile(rb"^authentication-results[ \t]*:", re.IGNORECASE | re.MULTILINE)
# Fields only postel adds (smtpserver/junkfiling.py, junk/rspamdproto.py).
OWN_TRACE_FIELDS = ("X-Postel-DNSBL", "X-Postel-Rspamd")
_OWN_FIELD = re.compile(
    rb"^(?:" + b"|".join(re.escape(f.encode()) for f in OWN_TRACE_FIELDS) + rb")[ \t]*:",
    re.IGNORECASE | re.MULTILINE,
)
# RFC 2045 token characters (tspecials and controls excluded).
_TOKEN = re.compile(r"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~\x80-\U0010ffff]+")


def header_end(message: bytes) -> int:
    """Offset where the header section ends: after its final line break, before
    the empty line (the whole message when there is none)."""
    if message.startswith((b"\r\n", b"\n")):
        return 0
    crlf = message.find(b"\r\n\r\n")
    # LF LF is looked for only before CRLF CRLF: not through the whole body.
    lf = message.find(b"\n\n", 0, crlf + 2 if crlf >= 0 else len(message))
    ends = [i for i in (crlf, lf) if i >= 0]
    if not ends:
        return len(message)
    first = min(ends)
    return first + (2 if message[first] == 13 else 1)


def _skip_cfws(text: str, pos: int) -> int:
    """Position after white space, folding and (nested) comments from *pos*."""
    depth = 0
    while pos < len(text):
        c = text[pos]
        if depth:
            if c == "\\":
                pos += 1
            elif c == "(":
                depth += 1
            elif c == ")":
                depth -= 1
        elif c == "(":
            depth = 1
        elif c not in " \t\r\n":
            break
        pos += 1
    return pos


def authserv_id(value: str) -> str | None:
    """The authserv-id at the start of a field value (RFC 8601 §2.2: a token or
    quoted-string after optional CFWS), lower-cased; None when there is none."""
    pos = _skip_cfws(value, 0)
    if value.startswith('"', pos):
        out: list[str] = []
        pos += 1
        while pos < len(value) and value[pos] != '"':
            if value[pos] == "\\" and pos + 1 < len(value):
                pos += 1
            if value[pos] not in "\r\n":
                out.append(value[pos])
            pos += 1
        return "".join(out).strip().lower() or None
    m = _TOKEN.match(value, pos)
    return m.group(0).lower() if m else None


def _same_id(found: str, ours: str) -> bool:
    return found.rstrip(".") == ours.rstrip(".").lower()


def _field_stop(message: bytes, start: int, end: int) -> int:
    """Where the field starting at *start* ends: it goes on while the next line
    starts with WSP (folding, RFC 5322 §2.2.3)."""
    stop = start
    while True:
        nl = message.find(b"\n", stop, end)
        if nl < 0:
            return end
        stop = nl + 1
        if stop >= end or message[stop] not in b" \t":
            return stop


def own_results_spans(message: bytes, ours: str) -> list[tuple[int, int]]:
    """(start, end) byte offsets of each whole Authentication-Results field of
    the header section (continuation lines included) whose authserv-id is *ours*,
    and of each of postel's own trace fields, in order."""
    end = header_end(message)
    if end <= _QUICK_CHECK_LIMIT:
        head = message[:end].lower()
        if b"authentication-results" not in head and b"x-postel-" not in head:
            return []  # the usual case, about 4 times faster than the scan below
    spans: list[tuple[int, int]] = []
    for m in _FIELD.finditer(message, 0, end):
        stop = _field_stop(message, m.start(), end)
        value = message[m.end() : stop].decode("utf-8", "replace")
        found = authserv_id(value)
        if found is not None and _same_id(found, ours):
            spans.append((m.start(), stop))
    for m in _OWN_FIELD.finditer(message, 0, end):
        spans.append((m.start(), _field_stop(message, m.start(), end)))
    return sorted(spans)


def strip_own_results(message: bytes, ours: str) -> tuple[bytes, int] | None:
    """*message* without the Authentication-Results fields carrying the
    authserv-id *ours*, and how many were removed; None when there is none
    (the caller keeps the message as it is, without a copy)."""
    spans = own_results_spans(message, ours)
    if not spans:
        return None
    parts: list[bytes] = []
    pos = 0
    for start, stop in spans:
        parts.append(message[pos:start])
        pos = stop
    parts.append(message[pos:])
    return b"".join(parts), len(spans)
