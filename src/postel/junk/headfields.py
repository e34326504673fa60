"""The few header fields the junk filter reads, without the email package's
parser (pure): the same values that `email.parser.BytesHeaderParser` with
the compat32 policy gives for them, in an `email.message.Message`, at a
fraction of its cost (it builds every field of the header; bench/NOTES.md,
junk filter, sixth round).

The lines are cut and joined as the feed parser does (email/feedparser.py,
`_parsegen` and `_parse_headers`): a line ends at CRLF, CR or LF; the header
ends at the first line that is neither a field, a continuation nor a
"From " line; a field's value is its first line after the colon, leading
blanks removed, and its continuation lines as they are, without the last
line ending (RFC 5322 §2.2.3 unfolding is left to the reader, as there).
"""

from __future__ import annotations

import email.message
import email.policy
import re

# The fields read (postel.junk.filter).
WANTED = ("subject", "from", "content-type", "x-mailer", "user-agent")

_EOL = r"(?:\r\n|\r|\n|\Z)"
# The header: lines that are a field, a continuation or a "From " line (the
# feed parser's headerRE), up to the first other line (the separator, or the
# body when it is missing).
_HEAD = re.compile(rf"(?:(?:From |[\041-\071\073-\176]*:|[\t ])[^\r\n]*{_EOL})*")
# A field from its start: its name, then the rest of its first line and its
# continuation lines, with their line endings.
_FIELD = re.compile(rf"([^:]*):([^\r\n]*{_EOL}(?:[\t ][^\r\n]*{_EOL})*)")
# The same, found anywhere (when a line ends at a CR alone).
_ANY_FIELD = re.compile(
    rf"(?:\A|(?<=[\r\n]))({'|'.join(WANTED)}):([^\r\n]*{_EOL}(?:[\t ][^\r\n]*{_EOL})*)",
    re.IGNORECASE | re.ASCII,
)


def _starts(text: str) -> list[int]:
    """Where the WANTED fields start in *text* (a header whose lines end
    at LF or CRLF), in order."""
    low = text.lower()  # of ASCII letters alone: the same length
    out: list[int] = []
    for name in WANTED:
        if low.startswith(name + ":"):
            out.append(0)
        key = "\n" + name + ":"
        i = low.find(key)
        while i >= 0:
            out.append(i + 1)
            i = low.find(key, i + 1)
    out.sort()
    return out


def header_fields(head: bytes) -> email.message.Message:
    """The WANTED fields of the header *head* (the bytes before the blank
    line) in a compat32 Message, in their order; the other fields left out."""
    text = head.decode("ascii", "surrogateescape")
    found = _HEAD.match(text)
    assert found is not None  # it matches the empty string
    end = found.end()
    msg = email.message.Message(policy=email.policy.compat32)
    if text.count("\r", 0, end) == text.count("\r\n", 0, end):
        fields = [_FIELD.match(text, i, end) for i in _starts(text[:end])]
    else:
        fields = list(_ANY_FIELD.finditer(text, 0, end))
    for m in fields:
        assert m is not None  # a name and a colon were found there
        # compat32's header_source_parse: leading blanks of the first line
        # off, the continuation lines as they are, the last line ending off.
        msg.set_raw(m.group(1), m.group(2).lstrip(" \t").rstrip("\r\n"))
    return msg
