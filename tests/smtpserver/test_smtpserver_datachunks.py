"""Chunked DATA reading (lines.read_data through the server's Conn) against the
line-by-line reader (on an asyncio.StreamReader).

The reference below reads line by line (one readuntil per line); the chunked
reader must give the same result, the same stored bytes and leave the same
bytes in the stream, however the input is split into chunks (RFC 5321 §4.5.2
dot-unstuffing, size and line limits, bare CR, bare LF and NUL refused, only
<CRLF>.<CRLF> ending DATA).
"""

from __future__ import annotations

import asyncio
import io
import itertools
from typing import BinaryIO

import pytest
from conn_fakes import new_conn, read_rest
from hypothesis import given, settings
from hypothesis import strategies as st

from postel.smtpserver.conn import Conn
from postel.smtpserver.lines import DataResult, TooLong, line_fault, read_data, read_line


async def reference_read_data(
    reader: asyncio.StreamReader, sink: BinaryIO, *, max_size: int, max_line: int
) -> DataResult:
    """Line by line: only <CRLF>.<CRLF> ends DATA; the first line too long or with
    a bare CR, bare LF or NUL decides the result and nothing more is written."""
    result = DataResult()
    after_crlf = True  # the line starts right after a CRLF (or at DATA's start)
    while True:
        try:
            line = await reader.readuntil(b"\n")
        except asyncio.IncompleteReadError:
            result.eof = True
            return result
        except asyncio.LimitOverrunError as exc:
            dropped = await reader.read(max(exc.consumed, 1))
            rest = await read_line(reader)
            if rest is None:
                result.eof = True
                return result
            assert not isinstance(rest, TooLong)
            after_crlf = rest.endswith(b"\r\n") or (rest == b"\n" and dropped.endswith(b"\r"))
            if result.fault is None:
                result.line_too_long = True
            continue
        if after_crlf and line[0] == 46:
            if line == b".\r\n":
                return result
            line = line[1:]
        after_crlf = line.endswith(b"\r\n")
        if result.line_too_long or result.fault is not None:
            continue
        length = len(line) - (2 if line.endswith(b"\r\n") else 1)
        if length > max_line:
            result.line_too_long = True
            continue
        fault = line_fault(line)
        if fault is not None:
            result.fault = fault
            continue
        if result.too_big:
            continue
        if not result.eight_bit and not line.isascii():
            result.eight_bit = True
        result.size += length + 2
        if result.size > max_size:
            result.too_big = True
            continue
        sink.write(line)


Outcome = tuple[DataResult, bytes, bytes]


async def _feed_conn(conn: Conn, chunks: list[bytes]) -> None:
    for chunk in chunks:
        await asyncio.sleep(0)
        conn.data_received(chunk)
    await asyncio.sleep(0)
    conn.eof_received()


async def run_conn(chunks: list[bytes], max_size: int, max_line: int) -> Outcome:
    """The server's reader: Conn (read_chunk: chunks of any size, no limit)."""
    conn, _ = new_conn(max_line + 2, high_water=64)
    feeder = asyncio.create_task(_feed_conn(conn, chunks))
    sink = io.BytesIO()
    result = await read_data(conn, sink, max_size=max_size, max_line=max_line,
                             line_timeout=5)  # fmt: skip
    await feeder
    return result, sink.getvalue(), await read_rest(conn)


async def run_old(wire: bytes, max_size: int, max_line: int) -> Outcome:
    reader = asyncio.StreamReader(limit=max_line + 2)
    reader.feed_data(wire)
    reader.feed_eof()
    sink = io.BytesIO()
    result = await reference_read_data(reader, sink, max_size=max_size, max_line=max_line)
    return result, sink.getvalue(), await reader.read()


def split(wire: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(wire) + 1) for c in cuts} | {0, len(wire)})
    return [wire[a:b] for a, b in itertools.pairwise(points) if b > a]


async def check(wire: bytes, cuts: list[int], max_size: int, max_line: int) -> Outcome:
    old = await run_old(wire, max_size, max_line)
    new = await run_conn(split(wire, cuts), max_size, max_line)
    if old[0].eof:
        # The connection is closed: only that counts (the session drops the rest).
        assert new[0].eof
    else:
        assert new == old
    return new


LINE_BYTES = st.sampled_from([b"a", b"b", b".", b"\r", b"\n", b"\r\n", b"\xc3\xa9", b" "])
line_st = st.lists(LINE_BYTES, max_size=30).map(b"".join)
eol_st = st.sampled_from([b"\r\n", b"\n", b"\r\n", b"\r\n"])


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    """Dot-stuffed lines, the end marker, then maybe pipelined commands."""
    lines = draw(st.lists(line_st.filter(lambda b: b"\n" not in b), max_size=25))
    eols = [draw(eol_st) for _ in lines]
    body = b"".join(
        (b"." + ln if ln.startswith(b".") else ln) + eol
        for ln, eol in zip(lines, eols, strict=True)
    )
    end = draw(st.sampled_from([b".\r\n", b".\n", b""]))  # b"": connection closes
    after = draw(st.sampled_from([b"", b"QUIT\r\n", b"RSET\r\nMAIL FROM:<a@b>\r\n", b".\r\n"]))
    return body + end + after


@settings(max_examples=400, deadline=None)
@given(messages(), st.lists(st.integers(0, 2000), max_size=8),
       st.integers(1, 400), st.integers(3, 40))  # fmt: skip
async def test_same_as_line_by_line_for_stuffed_messages(
    wire: bytes, cuts: list[int], max_size: int, max_line: int
) -> None:
    await check(wire, cuts, max_size, max_line)


@settings(max_examples=400, deadline=None)
@given(st.lists(LINE_BYTES, max_size=200).map(b"".join), st.lists(st.integers(0, 500), max_size=8),
       st.integers(1, 400), st.integers(3, 40))  # fmt: skip
async def test_same_as_line_by_line_for_any_bytes(
    wire: bytes, cuts: list[int], max_size: int, max_line: int
) -> None:
    await check(wire, cuts, max_size, max_line)


async def test_empty_message_right_after_data() -> None:
    result, data, rest = await check(b".\r\nQUIT\r\n", [], 100, 98)
    assert (data, rest, result.size, result.eof) == (b"", b"QUIT\r\n", 0, False)
    # ".\n" is no end (RFC 5321 §4.1.1.4), a bare LF: read on to <CRLF>.<CRLF>.
    result, data, rest = await check(b".\nQUIT\r\n.\r\nNOOP\r\n", [], 100, 98)
    assert (data, rest, result.fault, result.eof) == (b"", b"NOOP\r\n", "bare <LF>", False)


async def test_marker_split_across_chunks() -> None:
    wire = b"Subject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n"
    end = wire.index(b"\r\n.\r\n")
    for cut in range(end - 1, end + 6):
        _, data, rest = await check(wire, [cut], 1000, 98)
        assert data == b"Subject: x\r\n\r\nbody\r\n"
        assert rest == b"QUIT\r\n"


async def test_every_split_of_a_stuffed_message() -> None:
    wire = b"..a\r\n..\r\n\r\n...\r\nb\r\nc\r\n.\r\nNOOP\r\n"
    for a in range(len(wire)):
        for b in range(a, len(wire)):
            result, data, rest = await check(wire, [a, b], 1000, 98)
            assert data == b".a\r\n.\r\n\r\n..\r\nb\r\nc\r\n"
            assert rest == b"NOOP\r\n" and result.fault is None


async def test_every_split_of_smuggling_attempts() -> None:
    """However the chunks fall, a "." line next to a bare CR or LF ends nothing."""
    for end in (b"\n.\n", b"\n.\r\n", b"\r\n.\n", b"\r.\r", b"\r\n.\r", b"\r.\r\n"):
        wire = b"a\r\nb" + end + b"MAIL FROM:<x@y>\r\n\r\n.\r\nNOOP\r\n"
        for a in range(len(wire)):
            result, data, rest = await check(wire, [a, a + 3], 1000, 98)
            assert rest == b"NOOP\r\n" and not result.eof
            assert result.fault in ("bare <LF>", "bare <CR>")
            assert data == (b"a\r\nb\r\n" if end.startswith(b"\r\n") else b"a\r\n")


@pytest.mark.parametrize("max_line", [10, 98])
async def test_line_too_long_read_to_the_end(max_line: int) -> None:
    wire = b"ok\r\n" + b"x" * (max_line * 5) + b"\r\nok\r\n.\r\nQUIT\r\n"
    result, _, rest = await check(wire, [3, max_line + 7, max_line * 3], 10_000, max_line)
    assert result.line_too_long and not result.eof and rest == b"QUIT\r\n"


async def test_line_exactly_at_the_limit() -> None:
    wire = b"x" * 98 + b"\r\n." + b"y" * 98 + b"\r\n" + b"z" * 98 + b"\r\n.\r\n"
    result, data, _ = await check(wire, [50, 150], 10_000, 98)
    assert not result.line_too_long
    assert data == b"x" * 98 + b"\r\n" + b"y" * 98 + b"\r\n" + b"z" * 98 + b"\r\n"
    result, _, _ = await check(b"x" * 99 + b"\r\n.\r\n", [], 10_000, 98)
    assert result.line_too_long


async def test_too_big_discards_the_rest_and_keeps_pipelined_commands() -> None:
    wire = b"".join(b"line %d\r\n" % i for i in range(1000)) + b".\r\nQUIT\r\n"
    result, data, rest = await check(wire, [100, 4000], 500, 98)
    assert result.too_big and not result.eof and rest == b"QUIT\r\n"
    assert len(data) <= 500


async def test_large_message_in_big_chunks() -> None:
    body = b"".join(b"%d: " % i + b"x" * 70 + b"\r\n" for i in range(20_000))
    wire = body + b".\r\n"
    result, data, _ = await check(wire, [65536 * k for k in range(1, 30)], 10**7, 998)
    assert data == body and result.size == len(body) and not result.eight_bit


async def test_eof_before_the_end() -> None:
    for wire in (b"abc\r\n", b"abc\r\n.", b"abc\r\n.\r", b"", b"x" * 500):
        result, _, _ = await check(wire, [2], 1000, 98)
        assert result.eof


class CountingConn(Conn):
    """A Conn that counts the reads the DATA reader makes."""

    reads = 0

    async def read_chunk(self, separator: bytes) -> tuple[bytes, bool]:
        self.reads += 1
        return await super().read_chunk(separator)

    async def readexactly(self, n: int) -> bytes:
        self.reads += 1
        return await super().readexactly(n)

    async def readuntil(self, separator: bytes = b"\n") -> bytes:
        self.reads += 1
        return await super().readuntil(separator)


@pytest.mark.parametrize("line", [b"\r\n", b"x\r\n", b"\r\r\n", b"\n", b"..\r\n", b".x\r\n"])
async def test_short_lines_read_in_chunks(line: bytes) -> None:
    """Short lines cost no read each, empty and dot-stuffed ones included: 1 MB
    of them is read in a few chunks, not line by line (a line-by-line reader
    took about 2 s of CPU for 4 MB of ".." lines)."""
    wire = line * (2**20 // len(line)) + b"\r\n.\r\nQUIT\r\n"
    conn = CountingConn(1002, lambda c: None)
    conn.connection_made(asyncio.Transport())
    conn.data_received(wire)
    conn.eof_received()
    result = await read_data(conn, io.BytesIO(), max_size=2**21, max_line=1000, line_timeout=5)
    assert not result.eof and await read_rest(conn) == b"QUIT\r\n"
    assert conn.reads < 10, conn.reads
