"""Dot-stuffing and CRLF normalisation of the DATA stream (RFC 5321 §4.5.2)."""

from __future__ import annotations

import io
import re

from hypothesis import given
from hypothesis import strategies as st

from postel.smtpclient import DotStuffer, stuff, unstuff
from postel.smtpclient.dotstuff import MAX_PENDING, stuffed_chunks


def normalise(data: bytes) -> bytes:
    """What the receiver should get: every CRLF, bare LF and bare CR a CRLF line
    end, no NUL, final line end added."""
    data = data.replace(b"\x00", b"")
    lines = re.split(rb"\r\n|\r|\n", data)
    if lines[-1] == b"":
        lines.pop()
    return b"".join(ln + b"\r\n" for ln in lines)


def test_examples() -> None:
    assert stuff(b"") == b".\r\n"
    assert stuff(b"a\r\n") == b"a\r\n.\r\n"
    assert stuff(b"a") == b"a\r\n.\r\n"
    assert stuff(b".\r\n") == b"..\r\n.\r\n"
    assert stuff(b"a\n.b\n..c\nd.e\n") == b"a\r\n..b\r\n...c\r\nd.e\r\n.\r\n"
    assert stuff(b"x\r\n.") == b"x\r\n..\r\n.\r\n"
    assert unstuff(stuff(b"a\r\n.\r\nb\r\n")) == b"a\r\n.\r\nb\r\n"
    assert unstuff(b".\r\n") == b""


def test_chunk_boundaries() -> None:
    s = DotStuffer()
    out = s.feed(b"abc\r") + s.feed(b"\n.") + s.feed(b"dot\r\n") + s.feed(b".") + s.finish()
    assert out == b"abc\r\n..dot\r\n..\r\n.\r\n"


def test_long_line_without_newline_is_bounded() -> None:
    s = DotStuffer()
    first = s.feed(b"." + b"x" * (MAX_PENDING + 10))
    assert first.startswith(b"..x") and len(first) > MAX_PENDING
    # A dot in the middle of the long line is not at the start of a line.
    out = first + s.feed(b".y\r") + s.feed(b"\n.z") + s.finish()
    assert out == b"." + b"." + b"x" * (MAX_PENDING + 10) + b".y\r\n..z\r\n.\r\n"


def test_stuffed_chunks_file() -> None:
    data = (b"line\n.dot\n" * 50000) + b"end"
    out = b"".join(stuffed_chunks(io.BytesIO(data), chunk_size=4096))
    assert unstuff(out) == normalise(data)


@given(st.binary(max_size=3000), st.lists(st.integers(1, 500), max_size=20))
def test_round_trip(data: bytes, cuts: list[int]) -> None:
    s = DotStuffer()
    out = b""
    pos = 0
    for n in cuts:
        out += s.feed(data[pos : pos + n])
        pos += n
    out += s.feed(data[pos:]) + s.finish()
    # Never a lone "." line before the end, every line ends in CRLF.
    assert out.endswith(b".\r\n")
    body = out[:-3]
    assert b"\r\n.\r\n" not in b"\r\n" + body
    assert re.search(rb"(?<!\r)\n|\r(?!\n)", out) is None
    assert b"\x00" not in out
    assert unstuff(out) == normalise(data)
    assert out == stuff(data)


@given(
    st.lists(
        st.sampled_from([b".", b"..", b"a", b"\r", b"\n", b"\r\n", b"x.y", b"\x00"]), max_size=60
    )
)
def test_round_trip_dots(parts: list[bytes]) -> None:
    data = b"".join(parts)
    s = DotStuffer()
    out = b"".join(s.feed(p) for p in parts) + s.finish()
    assert unstuff(out) == normalise(data)
