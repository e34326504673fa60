"""Fuzzing the SMTP command parsers and the DATA reader (RFC 5321 §4.1.2, §4.5.2)."""

from __future__ import annotations

import asyncio
import io
import re

from fuzzing import bounded
from hypothesis import given
from hypothesis import strategies as st

from postel.smtp.address import format_path, parse_path
from postel.smtp.errors import SMTPError
from postel.smtp.params import parse_mail, parse_rcpt
from postel.smtpserver.conn import Conn
from postel.smtpserver.lines import read_data

EXTENSIONS = frozenset({"SIZE", "8BITMIME", "SMTPUTF8", "REQUIRETLS", "PIPELINING"})

# Text shaped like command arguments: paths, parameters, junk.
atoms = st.sampled_from(
    ["FROM:", "TO:", "<", ">", "@", ".", " ", '"', "\\", "[", "]", "IPv6:", "::1",
     "127.0.0.1", "a", "bc", "例え", "SIZE=", "BODY=8BITMIME", "SMTPUTF8", "REQUIRETLS",
     "RET=HDRS", "ENVID=", "NOTIFY=", "ORCPT=rfc822;", "+2B", "=", "\x00", "\r", "\t",
     "postmaster", "xn--", "-", "1" * 70]
)  # fmt: skip
arguments = st.one_of(st.lists(atoms, max_size=25).map("".join), st.text(max_size=300))


@bounded
@given(arguments)
def test_mail_argument_parses_or_raises_smtp_error(arg: str) -> None:
    try:
        cmd = parse_mail(arg, EXTENSIONS)
    except SMTPError as exc:
        assert 400 <= getattr(exc, "code", 500) < 600
        return
    if cmd.sender is not None:
        # A parsed sender prints as a path that parses to the same address.
        again = parse_path(format_path(cmd.sender), smtputf8=True)
        assert again is not None and str(again) == str(cmd.sender)


@bounded
@given(arguments, st.booleans())
def test_rcpt_argument_parses_or_raises_smtp_error(arg: str, smtputf8: bool) -> None:
    try:
        cmd = parse_rcpt(arg, smtputf8=smtputf8)
    except SMTPError:
        return
    assert cmd.postmaster or "@" in str(cmd.recipient)


@bounded
@given(arguments, st.booleans())
def test_path_parses_or_raises_smtp_error(text: str, smtputf8: bool) -> None:
    try:
        parse_path(text, smtputf8=smtputf8)
    except SMTPError:
        pass


lines = st.lists(
    st.one_of(
        st.binary(max_size=120).map(
            lambda b: b.replace(b"\r", b"").replace(b"\n", b"").replace(b"\x00", b"")
        ),
        st.sampled_from([b".", b"..", b".x", b"", b" .", b"\xff\xfe", b"." * 5]),
    ),
    max_size=40,
)


def _feed(wire: bytes) -> Conn:
    """The server's reader holding *wire*, then EOF (a transport that cannot
    pause: the whole input stays buffered)."""
    conn = Conn(100_000, lambda c: None)
    conn.connection_made(asyncio.Transport())
    conn.data_received(wire)
    conn.eof_received()
    return conn


@bounded
@given(lines, st.sampled_from([b"\r\n"]), st.binary(max_size=30))
def test_data_reader_undoes_dot_stuffing(content: list[bytes], eol: bytes, after: bytes) -> None:
    """Any message, dot-stuffed and terminated, reads back as itself with CRLF line
    ends; what follows the final dot stays in the stream (pipelining)."""
    wire = b"".join((b"." + ln if ln.startswith(b".") else ln) + eol for ln in content)
    wire += b"." + eol + after

    async def go() -> tuple[bytes, bytes, bool]:
        reader = _feed(wire)
        sink = io.BytesIO()
        res = await read_data(reader, sink, max_size=10**7, max_line=10_000, line_timeout=5)
        rest = await reader.read(len(wire) + 1)
        return sink.getvalue(), rest, res.eof

    got, rest, eof = asyncio.run(go())
    assert not eof
    assert got == b"".join(ln + b"\r\n" for ln in content)
    assert rest == after


@bounded
@given(st.binary(max_size=3000), st.integers(10, 3000), st.integers(1000, 2000))
def test_data_reader_never_exceeds_limits(wire: bytes, max_size: int, max_line: int) -> None:
    async def go() -> tuple[bytes, object]:
        sink = io.BytesIO()
        res = await read_data(
            _feed(wire), sink, max_size=max_size, max_line=max_line, line_timeout=5
        )
        return sink.getvalue(), res

    got, res = asyncio.run(go())
    assert len(got) <= max_size
    assert res.size >= len(got)  # type: ignore[attr-defined]
    if res.too_big or res.line_too_long:  # type: ignore[attr-defined]
        pass  # the session refuses the message; what was written is discarded
    else:
        assert all(len(line) <= max_line for line in got.split(b"\r\n"))


pieces = st.sampled_from(
    [b".", b"..", b"\r", b"\n", b"\r\n", b"\x00", b"a", b".\r\n", b"\r\n.\r\n", b"\n.\n",
     b"\r.\r", b"\r\n.\n", b"\n.\r\n", b"QUIT\r\n"]
)  # fmt: skip


@bounded
@given(st.lists(pieces, max_size=40).map(b"".join))
def test_data_ends_only_at_crlf_dot_crlf(wire: bytes) -> None:
    """SMTP smuggling (CVE-2023-51764 class): DATA ends at the first <CRLF>.<CRLF>
    (or a "." line first), never elsewhere; a message with a bare CR, bare LF or
    NUL is a fault; what is kept has CRLF line ends only."""
    if wire.startswith(b".\r\n"):
        end = 3
    else:
        found = wire.find(b"\r\n.\r\n")
        end = found + 5 if found >= 0 else -1

    async def go() -> tuple[bytes, bytes, object]:
        reader = _feed(wire)
        sink = io.BytesIO()
        res = await read_data(reader, sink, max_size=10**7, max_line=10_000, line_timeout=5)
        return sink.getvalue(), await reader.read(len(wire) + 1), res

    got, rest, res = asyncio.run(go())
    if end < 0:
        assert res.eof  # type: ignore[attr-defined]
        return
    assert not res.eof and rest == wire[end:]  # type: ignore[attr-defined]
    message = wire[: max(end - 3, 0)]
    faulty = b"\x00" in message or re.search(rb"\r(?!\n)|(?<!\r)\n", message) is not None
    assert (res.fault is not None) == faulty  # type: ignore[attr-defined]
    if not faulty:
        assert re.search(rb"\r(?!\n)|(?<!\r)\n", got) is None
