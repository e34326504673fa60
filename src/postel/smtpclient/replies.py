"""Reading SMTP replies from the peer with bounds (RFC 5321 §4.2, §4.5.3.1.5)."""

from __future__ import annotations

import asyncio
import logging

from postel.errors import PostelError
from postel.log import trace_line
from postel.smtp.errors import ReplyError
from postel.smtp.reply import Reply, parse_reply_lines
from postel.smtpclient.errors import ProtocolError

# RFC 5321 §4.5.3.1.5 says 512 octets per reply line; accept more, but bounded.
MAX_LINE = 2048
MAX_LINES = 100


class PeerClosed(PostelError):
    """The peer closed the connection (EOF) while we waited for a reply."""


async def read_line(reader: asyncio.StreamReader) -> str:
    """One line without CRLF; ProtocolError if longer than MAX_LINE, PeerClosed on EOF."""
    try:
        raw = await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError as exc:
        raise PeerClosed("connection closed by peer") from exc
    except asyncio.LimitOverrunError as exc:
        raise ProtocolError(f"reply line longer than {MAX_LINE} bytes") from exc
    if len(raw) > MAX_LINE + 2:
        raise ProtocolError(f"reply line longer than {MAX_LINE} bytes")
    return raw.rstrip(b"\r\n").decode("utf-8", "replace")


async def read_reply(reader: asyncio.StreamReader, timeout: float, log: logging.Logger) -> Reply:
    """Read one possibly multi-line reply within ``timeout`` seconds.

    Raises TimeoutError, PeerClosed, ProtocolError (bad syntax, too many lines),
    ssl.SSLError / OSError from the transport.
    """
    async with asyncio.timeout(timeout):
        lines: list[str] = []
        while True:
            line = await read_line(reader)
            trace_line(log, "S:", line)
            lines.append(line)
            if len(lines) > MAX_LINES:
                raise ProtocolError(f"reply with more than {MAX_LINES} lines")
            if len(line) < 4 or line[3] != "-":
                break
    try:
        return parse_reply_lines(lines)
    except (ReplyError, ValueError) as exc:
        raise ProtocolError(f"bad reply from peer: {exc}") from exc


def parse_ehlo(reply: Reply) -> tuple[str, dict[str, str]]:
    """The greeting domain and the extensions (keyword upper case -> parameters)
    of an EHLO reply (RFC 5321 §4.1.1.1)."""
    lines = reply.text.split("\n")
    helo = lines[0].split(" ", 1)[0] if lines and lines[0] else ""
    exts: dict[str, str] = {}
    for line in lines[1:]:
        keyword, _, params = line.strip().partition(" ")
        if keyword:
            exts[keyword.upper()] = params.strip()
    return helo, exts
