"""Slow request bodies on a running web listener (loopback): one client's slow
connections leave the others served, and a slow body is cut at its deadline."""

from __future__ import annotations

import asyncio
import time

from livelib import Live, live_web
from webtestlib import Instance

from postel.localserve import DOMAIN

SLOW_HEAD = (
    b"POST /admin/login HTTP/1.1\r\nHost: x\r\n"
    b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\n"
)


async def _slow_body(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection from 127.0.0.1 that sends a POST head and the start of its body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(SLOW_HEAD + b"password=")
    await writer.drain()
    return reader, writer


async def _ended(reader: asyncio.StreamReader, seconds: float) -> bytes | None:
    """What the server sent before it closed the connection, or None when it is
    still open after *seconds*."""
    data = b""
    try:
        async with asyncio.timeout(seconds):
            while chunk := await reader.read(4096):
                data += chunk
    except TimeoutError:
        return None
    except ConnectionResetError:
        pass
    return data


async def _status(live: Live, local_address: str, path: str, host: str = "x") -> int:
    async with live.client(local_address) as client:
        r = await client.get(path, headers={"host": host})
        return r.status_code


async def test_slow_bodies_from_one_address_leave_others_served(instance: Instance) -> None:
    per_ip = instance.cfg.static.listeners["local"].web.max_connections_per_ip
    async with live_web(instance) as live:
        conns = [await _slow_body(live.port) for _ in range(1000)]
        try:
            # Another address is served, admin pages and MTA-STS policies alike.
            assert await _status(live, "127.0.0.2", "/admin/login") == 200
            assert (
                await _status(live, "127.0.0.2", "/.well-known/mta-sts.txt", f"mta-sts.{DOMAIN}")
                == 200
            )
            # The slow client holds at most its share; the rest were refused.
            ended = await asyncio.gather(*(_ended(r, 5) for r, _ in conns[per_ip:]))
            assert all(e is not None and e.startswith(b"HTTP/1.1 503 ") for e in ended)
            still = await asyncio.gather(*(_ended(r, 0.2) for r, _ in conns[:per_ip]))
            assert still == [None] * per_ip
        finally:
            for _, w in conns:
                w.close()
        # Its connections gone, the client is served again.
        for _ in range(50):
            if await _status(live, "127.0.0.1", "/admin/login") == 200:
                break
            await asyncio.sleep(0.1)
        assert await _status(live, "127.0.0.1", "/admin/login") == 200


async def _trickle(writer: asyncio.StreamWriter, rate: int, seconds: float) -> None:
    """Send body bytes at about *rate* bytes per second for *seconds*."""
    step = 0.1
    for _ in range(int(seconds / step)):
        writer.write(b"x" * max(1, int(rate * step)))
        await writer.drain()
        await asyncio.sleep(step)


async def test_slow_body_is_cut_at_the_body_rate_deadline(instance: Instance) -> None:
    async with live_web(instance, body_timeout=0.5, min_body_rate=200) as live:
        reader, writer = await _slow_body(live.port)
        started = time.monotonic()
        trickle = asyncio.create_task(_trickle(writer, 20, 10))
        try:
            ended = await _ended(reader, 5)
        finally:
            trickle.cancel()
            writer.close()
        assert ended is not None and ended.startswith(b"HTTP/1.1 408 ")
        # 9 bytes plus 20 a second fall behind 200 a second after 0.5 s of grace.
        assert time.monotonic() - started < 2


async def test_body_at_a_good_rate_is_cut_at_the_request_deadline(instance: Instance) -> None:
    async with live_web(instance, body_timeout=0.5, min_body_rate=200, request_timeout=1.5) as live:
        reader, writer = await _slow_body(live.port)
        started = time.monotonic()
        trickle = asyncio.create_task(_trickle(writer, 1000, 10))
        try:
            ended = await _ended(reader, 5)
        finally:
            trickle.cancel()
            writer.close()
        elapsed = time.monotonic() - started
        assert ended is not None and ended.startswith(b"HTTP/1.1 408 ")
        assert 1.3 < elapsed < 3


async def test_body_at_a_good_rate_is_received(instance: Instance) -> None:
    async with live_web(instance, body_timeout=0.5, min_body_rate=200, request_timeout=5) as live:
        reader, writer = await asyncio.open_connection("127.0.0.1", live.port)
        body = b"password=" + b"x" * 591
        writer.write(
            b"POST /admin/login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 600\r\n\r\n"
        )
        for i in range(0, len(body), 50):  # 500 bytes a second for 1.2 s
            writer.write(body[i : i + 50])
            await writer.drain()
            await asyncio.sleep(0.1)
        ended = await _ended(reader, 5)
        writer.close()
        # The application answered: 403, the form has no CSRF token.
        assert ended is not None and ended.startswith(b"HTTP/1.1 403 ")


async def test_next_request_after_an_early_response_has_its_own_head_deadline(
    instance: Instance,
) -> None:
    limits = {"head_timeout": 0.5, "body_timeout": 30, "min_body_rate": 1, "request_timeout": 60}
    async with live_web(instance, **limits) as live:
        reader, writer = await asyncio.open_connection("127.0.0.1", live.port)
        # Not logged in: 403 before the body is read; the body follows, then the
        # head of a next request that never ends.
        writer.write(
            b"POST /webmail/compose HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n"
        )
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 403 ")
        writer.write(b"x" * 1000 + b"GET /admin/login HTTP/1.1\r\nHost: x\r\n")
        await writer.drain()
        started = time.monotonic()
        ended = await _ended(reader, 5)
        writer.close()
        assert ended is not None
        assert time.monotonic() - started < 2
