"""A client that closes the connection in the middle of a POST body: one structured
log line saying what and where, no traceback (over a running listener on loopback)."""

from __future__ import annotations

import asyncio
import logging

import pytest
from livelib import Live, live_web, webmail_login
from webtestlib import Instance

from postel.log import LogfmtFormatter


async def _abort(live: Live, head: bytes, body_start: bytes) -> None:
    """Send *head* and the start of a body, then close the connection."""
    _reader, writer = await asyncio.open_connection("127.0.0.1", live.port)
    writer.write(head + body_start)
    await writer.drain()
    await asyncio.sleep(0.3)  # the application is reading the body now
    writer.close()
    await writer.wait_closed()


async def _settle(caplog: pytest.LogCaptureFixture, message: str, n: int) -> None:
    for _ in range(100):
        if sum(r.getMessage() == message for r in caplog.records) >= n:
            return
        await asyncio.sleep(0.02)


ABORTED = "http request ended before its body was complete"


async def test_aborted_post_bodies_log_one_line(
    instance: Instance, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with live_web(instance) as live:
        async with live.client() as client:
            await webmail_login(client)
            cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
        caplog.clear()
        # A login form, cut after 9 of 1000 bytes.
        await _abort(
            live,
            b"POST /webmail/login HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n",
            b"address=a",
        )
        # An upload of a logged-in user, cut inside the multipart body.
        await _abort(
            live,
            b"POST /webmail/compose HTTP/1.1\r\nHost: x\r\nCookie: " + cookie.encode() + b"\r\n"
            b"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n",
            b'--b\r\nContent-Disposition: form-data; name="attachments"; filename="a.bin"\r\n\r\n'
            + b"x" * 5000,
        )
        await _settle(caplog, ABORTED, 2)
    records = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert [r for r in records if r.exc_info] == [], "a traceback was logged"
    assert [r for r in records if r.levelno >= logging.WARNING] == []
    aborted = [r for r in records if r.getMessage() == ABORTED]
    assert [(r.name, r.__dict__["path"]) for r in aborted] == [
        ("postel.web", "/webmail/login"),
        ("postel.web", "/webmail/compose"),
    ]
    line = LogfmtFormatter().format(aborted[0])
    assert "\n" not in line
    assert "method=POST path=/webmail/login client=127.0.0.1 received=9 content_length=1000" in line
    assert aborted[1].__dict__["received"] > 5000
