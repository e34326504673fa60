"""MIME structure with byte offsets, sections, ENVELOPE and BODYSTRUCTURE."""

from __future__ import annotations

from postel.imapserver import encode, mutf7
from postel.imapserver.fetchatt import Section
from postel.imapserver.listing import list_entries
from postel.imapserver.mime import filter_header, parse_header, parse_structure, section_range

NESTED = (
    b"From: =?utf-8?q?J=C3=B6rg?= <jorg@example.org>\r\n"
    b'To: a@example.org, "B, C" <b@example.org>\r\n'
    b"Subject: nested\r\n"
    b"Content-Type: multipart/mixed; boundary=outer\r\n"
    b"\r\n"
    b"preamble\r\n"
    b"--outer\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"first part\r\n"
    b"--outer\r\n"
    b"Content-Type: message/rfc822\r\n"
    b"\r\n"
    b"Subject: inner\r\n"
    b'Content-Type: multipart/alternative; boundary="in"\r\n'
    b"\r\n"
    b"--in\r\n"
    b"Content-Type: text/plain\r\n"
    b"\r\n"
    b"inner text\r\n"
    b"--in\r\n"
    b"Content-Type: text/html\r\n"
    b"\r\n"
    b"<p>inner</p>\r\n"
    b"--in--\r\n"
    b"--outer\r\n"
    b"Content-Type: application/pdf; name=x.pdf\r\n"
    b"Content-Disposition: attachment; filename=x.pdf\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"JVBERi0=\r\n"
    b"--outer--\r\n"
    b"epilogue\r\n"
)


def body(section: Section) -> bytes:
    root = parse_structure(NESTED)
    a, b = section_range(root, section)
    return NESTED[a:b]


def test_sections_are_byte_ranges() -> None:
    assert body(Section((1,))) == b"first part"
    assert body(Section((1,), "MIME")) == b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
    assert body(Section((2, 1))) == b"inner text"
    assert body(Section((2, 2))) == b"<p>inner</p>"
    assert body(Section((2,), "HEADER")).startswith(b"Subject: inner\r\n")
    assert body(Section((3,))) == b"JVBERi0="
    assert body(Section((), "TEXT")).startswith(b"preamble")
    assert body(Section()) == NESTED


def test_header_fields() -> None:
    header = body(Section((), "HEADER"))
    assert filter_header(header, ("SUBJECT",), keep=True) == b"Subject: nested\r\n\r\n"
    rest = filter_header(header, ("SUBJECT", "TO", "CONTENT-TYPE"), keep=False)
    assert rest.startswith(b"From:") and b"Subject" not in rest


def test_bodystructure() -> None:
    root = parse_structure(NESTED)
    inner = root.children[1].message
    assert inner is not None
    headers = {inner.start: parse_header(NESTED[inner.start : inner.body_start])}
    text = encode.body_structure(root, headers, extended=True)
    assert text.startswith(
        b'(("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "7BIT" 10 1 NIL NIL NIL NIL)'
    )
    assert b'("MESSAGE" "RFC822" NIL NIL NIL "7BIT" ' in text
    assert b'"ALTERNATIVE"' in text
    assert b'("ATTACHMENT" ("FILENAME" "x.pdf"))' in text
    assert b' "MIXED" ("BOUNDARY" "outer") NIL NIL NIL)' in text
    assert text.count(b"(") == text.count(b")")


def test_envelope() -> None:
    env = encode.envelope(parse_header(NESTED[: NESTED.index(b"\r\n\r\n") + 4]))
    assert env.startswith(b'(NIL "nested" (("=?utf-8?q?J=C3=B6rg?=" NIL "jorg" "example.org"))')
    assert b'(NIL NIL "a" "example.org")("B, C" NIL "b" "example.org")' in env


def test_single_part_message_has_part_one() -> None:
    msg = b"Subject: x\r\n\r\nbody\r\n"
    root = parse_structure(msg)
    a, b = section_range(root, Section((1,)))
    assert msg[a:b] == b"body\r\n"
    assert encode.body_structure(root, {}, extended=False) == (
        b'("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 6 1)'
    )


def test_strings_quoted_or_literal() -> None:
    assert encode.string('a "b" \\') == b'"a \\"b\\" \\\\"'
    assert encode.string("Jörg") == b"{5}\r\nJ\xc3\xb6rg"
    assert encode.astring("INBOX") == b"INBOX"
    assert encode.astring("NIL") == b'"NIL"'


def test_modified_utf7() -> None:
    for name in ("Entwürfe", "日本語/x", "a&b", "~peter/mail/台北/日本語"):
        assert mutf7.decode(mutf7.encode(name)) == name
    assert mutf7.encode("~peter/mail/台北/日本語") == "~peter/mail/&U,BTFw-/&ZeVnLIqe-"
    assert mutf7.encode("a&b") == "a&-b"


def test_list_wildcards_and_special_use() -> None:
    names = {"Inbox": "", "Sent": "\\Sent", "Trash": "\\Trash", "Projects/a/b": ""}
    got = {e.name: e.attributes for e in list_entries(names, "", ["%"], rev2=True)}
    assert set(got) == {"INBOX", "Sent", "Trash", "Projects"}
    assert got["Projects"] == ("\\NonExistent", "\\HasChildren")
    assert "\\Sent" in got["Sent"]
    got = {e.name for e in list_entries(names, "", ["*"], rev2=False)}
    assert got == {"INBOX", "Sent", "Trash", "Projects", "Projects/a", "Projects/a/b"}
    got = {e.name for e in list_entries(names, "", ["inbox"], rev2=False)}
    assert got == {"INBOX"}


def test_header_parser_agrees_with_the_email_package() -> None:
    from email.parser import BytesHeaderParser
    from email.policy import compat32

    header = (
        b"Subject: folded\r\n  over two lines\r\n"
        b"From: Jorg <j@example.org>\r\n"
        b"X-Empty:\r\n"
        b"Content-Type: text/plain;\r\n\tcharset=utf-8\r\n"
        b"\r\n"
        b"Body: not a header\r\n"
    )
    ours = parse_header(header)
    theirs = BytesHeaderParser(policy=compat32).parsebytes(header)
    assert [(k.lower(), str(v).split()) for k, v in ours.items()] == [
        (k.lower(), str(v).split()) for k, v in theirs.items()
    ]
    assert ours.get_param("charset") == "utf-8"
    # Space before the colon (RFC 5322 §4.5.3 obsolete syntax) is a field here
    # too; the email package ends the header there.
    assert parse_header(b"To : a@example.org\r\n\r\n")["to"] == "a@example.org"


def test_eight_bit_header_bytes_pass_through() -> None:
    """UTF-8 header fields (RFC 6532) and other 8-bit bytes reach the client as
    sent, in literals, not as replacement characters."""
    header = "Subject: Jörg\r\nFrom: Jörg <j@exämple.org>\r\n".encode() + b"To: \xff@x\r\n\r\n"
    env = encode.envelope(parse_header(header))
    assert env.startswith(b"(NIL {5}\r\nJ\xc3\xb6rg ((") and b"{12}\r\nex\xc3\xa4mple.org" in env
    assert b"{3}\r\n\xff@x" not in env and b"\xff" in env
    assert b"\xef\xbf\xbd" not in env  # no U+FFFD
