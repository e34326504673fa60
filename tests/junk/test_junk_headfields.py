"""postel.junk.headfields reads the filter's header fields as the email
package's header parser (compat32) does, without parsing the whole header."""

from __future__ import annotations

import email.message
import email.parser
import email.policy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postel.junk.headfields import WANTED, header_fields


def _view(msg: email.message.Message) -> list[object]:
    """What the filter can read of *msg*: each wanted field (all of them, in
    order, as text), the content type and the charset parameter."""
    out: list[object] = [(n, [str(v) for v in msg.get_all(n, [])]) for n in WANTED]
    out.append(msg.get_content_type() if msg.get("Content-Type") is not None else None)
    out.append(repr(msg.get_param("charset")))
    return out


def _parsed(head: bytes) -> email.message.Message:
    return email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(head)


CASES = [
    b"Subject: hello\r\nFrom: a@example.com\r\nX-Other: 1",
    b"Subject: folded\r\n  over two\r\n\tlines\r\nFrom: a@example.com\r\n",
    b"subject: first\r\nSUBJECT: second\r\nContent-Type: text/plain; charset=UTF-8",
    b"From someone@example.com Mon Jan  1 00:00:00 2001\r\nFrom: b@example.com",
    b"  continuation first\r\nSubject: s\r\n",
    b"Subject: s\r\nthis line has no colon\r\nFrom: hidden@example.com\r\n",
    b"Subject: s\r\n:no name\r\n  cont\r\nFrom: f@example.com",
    b"Subject: lone\rFrom: cr@example.com\rX-Mailer: Mutt/1.5\r",
    b"Subject: bare\nFrom: lf@example.com\n\nFrom: body@example.com\n",
    b'Subject: caf\xc3\xa9 \xff\r\nFrom: "S\xe9b" <s@example.com>\r\n',
    b"X-Mailer:   spaced\t\r\nUser-Agent: Other/2\r\nContent-Type: multipart/mixed;\r\n"
    b" boundary=\"b\"; charset*=utf-8''x",
    b"Subject:\r\n\tonly a continuation\r\nFrom:",
    b"Subject: s\r\nFrom x\r\nFrom: after@example.com\r\nFrom y",
    b'Content-Type: text/html; charset="iso-8859-1"\r\nContent-Type: text/plain',
    b"",
    b"\r\nSubject: after the separator",
    b"Subject : space before the colon\r\nFrom: a@b",
]


@pytest.mark.parametrize("head", CASES)
def test_fields_as_the_email_parser_reads_them(head: bytes) -> None:
    assert _view(header_fields(head)) == _view(_parsed(head))


_PIECES = st.sampled_from(
    [
        "Subject: a b",
        "subject:x",
        "From: a@example.com",
        "FROM: <b@example.org>",
        "From somebody",
        "Content-Type: text/plain; charset=utf-8",
        "content-type: multipart/alternative",
        "X-Mailer: Foo 1.0",
        "User-Agent: Bar",
        "Received: by x",
        " folded",
        "\tmore",
        ":colon first",
        "no colon here",
        "",
        "Subj\u00e9ct: x",
    ]
)
_ENDS = st.sampled_from(["\r\n", "\n", "\r", ""])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_PIECES, _ENDS), max_size=12))
def test_any_mix_of_lines_reads_as_the_email_parser_reads_it(
    lines: list[tuple[str, str]],
) -> None:
    head = "".join(p + e for p, e in lines).encode("utf-8")
    assert _view(header_fields(head)) == _view(_parsed(head))
