"""Fuzzing the IMAP command parser (RFC 9051 §9) and the MIME structure parser."""

from __future__ import annotations

from fuzzing import bounded, mutated, samples
from hypothesis import example, given
from hypothesis import strategies as st

from postel.imapserver import binary, encode
from postel.imapserver.command import parse_command
from postel.imapserver.errors import ParseError
from postel.imapserver.fetch import StructureCache
from postel.imapserver.fetchatt import Section
from postel.imapserver.mime import (
    NoSuchPart,
    header_end,
    parse_header,
    parse_structure,
    section_range,
)

# Pieces shaped like IMAP commands: tags, commands, arguments, specials.
atoms = st.sampled_from(
    ["a1", " ", "UID", "FETCH", "SEARCH", "STORE", "COPY", "MOVE", "EXPUNGE", "LIST", "LSUB",
     "APPEND", "LOGIN", "AUTHENTICATE", "SELECT", "STATUS", "ENABLE", "ID", "IDLE", "RENAME",
     "CREATE", "1", "1:*", "*", "$", ",", ":", "(", ")", "[", "]", "<", ">", ".", '"', "\\",
     "BODY", "BODY.PEEK", "BINARY", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT", "MIME",
     "HEADER", "FLAGS", "+FLAGS.SILENT", "\\Seen", "$Junk", "NOT", "OR", "SINCE", "1-Jan-2024",
     "FROM", "CHARSET", "UTF-8", "RETURN", "(MIN MAX COUNT ALL)", "INBOX", "%", "NIL", "{3}",
     "\x00", "\t", "例", "4294967296", "0", "~", "&-", "SAVE", "(SAVE MIN)", "UTF8 (", "~",
     "BINARY.PEEK", "BINARY.SIZE", "{3+}"]
)  # fmt: skip
lines = st.one_of(
    st.lists(atoms, max_size=30).map("".join).map(str.encode), st.binary(max_size=300)
)


@bounded
@given(st.lists(lines, min_size=1, max_size=4))
def test_command_parses_or_raises_parse_error(segments: list[bytes]) -> None:
    # Parts alternate line text and literals, as the reader makes them.
    parts: list[bytes] = []
    for i, seg in enumerate(segments):
        parts.append(seg)
        if i + 1 < len(segments):
            parts.append(b"lit" * i)
    try:
        cmd = parse_command(parts)
    except ParseError as exc:
        assert exc.tag
        return
    assert cmd.tag and cmd.name


MIME_SEEDS = [
    *samples("dmarc", ".eml"),
    b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\nAAEC/w==\r\n--b\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n\r\na=3D=\r\nb\r\n--b--\r\n",
    b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n",
    b"Content-Type: message/rfc822\r\n\r\nSubject: in\r\n\r\nbody\r\n",
]


@bounded
@given(mutated(MIME_SEEDS), st.lists(st.integers(1, 4), max_size=4))
# Found by the fuzz profile: a boundary parameter that occurs nowhere (NUL).
@example(b"Content-Type: multipart/mixed; boundary=\x00\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n", [])
# and a part of one byte that is not a line end, after a delimiter with text after it.
@example(
    b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--bContent-Type: multipart/mixed; "
    b"boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n",
    [1],
)
# and a field with 8-bit bytes, which the email package hands out as a Header.
@example(b"Content-Transfer-Encoding:\x80 base64\r\n\r\nx", [])
@example(b"Content-Type:\x00\xc2\x80\x80\x00", [])  # UTF-8 mixed with other 8-bit bytes
def test_mime_structure_is_within_the_message(data: bytes, part: list[int]) -> None:
    root = parse_structure(data)
    for text in ("", "HEADER", "TEXT", "MIME"):
        if text == "MIME" and not part:
            continue
        try:
            a, b = section_range(root, Section(tuple(part), text))
        except NoSuchPart:
            continue
        assert 0 <= a <= b <= len(data)
    env = encode.envelope(parse_header(data[: header_end(data, 0, len(data))]))
    assert env.startswith(b"(") and env.endswith(b")")
    _, headers = StructureCache().get(0, data)
    out = encode.body_structure(root, headers, extended=True)
    assert out.startswith(b"(") and out.endswith(b")")


@bounded
@given(mutated(MIME_SEEDS), st.lists(st.integers(1, 4), max_size=3))
def test_binary_content_decodes_or_says_unknown_cte(data: bytes, part: list[int]) -> None:
    root = parse_structure(data)
    try:
        got = binary.content(root, tuple(part), data)
    except (NoSuchPart, binary.UnknownCTE):
        return
    if isinstance(got, tuple):
        assert 0 <= got[0] <= got[1] <= len(data)
    else:  # decoding never grows base64 or quoted-printable content
        assert len(got) <= len(data)
