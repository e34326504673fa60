"""Bounded line and DATA reading, and the Received header (pure parts)."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from conn_fakes import fed_conn
from hypothesis import given
from hypothesis import strategies as st

from postel.smtpserver.conn import Conn
from postel.smtpserver.lines import TOO_LONG, DataResult, read_data, read_line
from postel.smtpserver.received import ReceivedInfo, protocol_type, received_header


def reader(data: bytes, limit: int = 100) -> Conn:
    return fed_conn(data, limit)


async def test_read_line_too_long_resyncs() -> None:
    r = reader(b"a" * 250 + b"\r\nNOOP\r\npartial")
    assert await read_line(r) is TOO_LONG
    assert await read_line(r) == b"NOOP\r\n"
    assert await read_line(r) is None  # EOF before LF


async def data_of(
    raw: bytes, max_size: int = 10_000, max_line: int = 98
) -> tuple[bytes, DataResult]:
    sink = io.BytesIO()
    result = await read_data(
        reader(raw), sink, max_size=max_size, max_line=max_line, line_timeout=5
    )
    return sink.getvalue(), result


async def test_dot_unstuffing_and_line_ends() -> None:
    data, result = await data_of(b"a\r\n..b\r\nc\r\n.\r\nNEXT\r\n")
    assert data == b"a\r\n.b\r\nc\r\n"
    assert result.size == len(data) and result.fault is None


async def test_bare_line_ends_and_nul_are_faults() -> None:
    # RFC 5321 §2.3.8; "c\n.\r\n" is no end of data: a bare LF before the dot.
    data, result = await data_of(b"a\r\nc\n.\r\nNEXT\r\n.\r\n")
    assert (data, result.fault, result.eof) == (b"a\r\n", "bare <LF>", False)
    _, result = await data_of(b"a\rb\r\n.\r\n")
    assert result.fault == "bare <CR>"
    _, result = await data_of(b"a\x00b\r\n.\r\n")
    assert result.fault == "NUL"


async def test_size_limit_reads_to_end() -> None:
    r = reader(b"x" * 50 + b"\r\n" + b"y" * 50 + b"\r\n.\r\nQUIT\r\n")
    sink = io.BytesIO()
    result = await read_data(r, sink, max_size=60, max_line=98, line_timeout=5)
    assert result.too_big and not result.eof
    assert await read_line(r) == b"QUIT\r\n"


async def test_eof_in_data() -> None:
    _, result = await data_of(b"abc\r\n")
    assert result.eof


@given(
    st.lists(
        st.binary(max_size=40).filter(lambda b: not any(c in b for c in b"\n\r\x00")), max_size=20
    )
)
async def test_stuffing_roundtrip(lines: list[bytes]) -> None:
    stuffed = b"".join((b"." + ln if ln.startswith(b".") else ln) + b"\r\n" for ln in lines)
    data, result = await data_of(stuffed + b".\r\n")
    assert data == b"".join(ln + b"\r\n" for ln in lines)
    assert not result.too_big and not result.line_too_long


def test_received_header() -> None:
    info = ReceivedInfo(
        helo="client (evil) example",
        ip="192.0.2.1",
        rdns="mx.example.net",
        hostname="mail.example.org",
        protocol=protocol_type(ehlo=True, tls=True, authenticated=False, smtputf8=False),
        cid="1a2b",
        recipient="<a@example.org>",
        tls_version="TLSv1.3",
        tls_cipher="TLS_AES_128_GCM_SHA256",
        when=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
    )
    header = received_header(info)
    assert header.endswith("\r\n")
    unfolded = header.replace("\r\n\t", " ").strip()
    assert unfolded == (
        "Received: from client__evil__example (mx.example.net [192.0.2.1]) "
        "by mail.example.org (postel) "
        "with ESMTPS (using TLSv1.3 with cipher TLS_AES_128_GCM_SHA256) "
        "id 1a2b for <a@example.org>; Thu, 02 Jan 2025 03:04:05 +0000"
    )


def test_protocol_types() -> None:
    assert protocol_type(ehlo=False, tls=False, authenticated=False, smtputf8=False) == "SMTP"
    assert protocol_type(ehlo=True, tls=True, authenticated=True, smtputf8=False) == "ESMTPSA"
    assert protocol_type(ehlo=True, tls=True, authenticated=True, smtputf8=True) == "UTF8SMTPSA"
