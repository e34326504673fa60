"""Slow clients: a request head must arrive within the deadline (web listeners)."""

from __future__ import annotations

import asyncio
import socket
from contextlib import AsyncExitStack
from pathlib import Path

import trustme
from security_env import make_config

from postel.dns.mock import MockResolver
from postel.store.store import Store
from postel.web import start_web


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _closed_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    try:
        data = await asyncio.wait_for(reader.read(), seconds)
    except TimeoutError:
        return False
    return data == b"" or data.startswith(b"HTTP/1.1 ")


async def test_slow_or_silent_clients_are_closed(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, trustme.CA())
    web = cfg.static.listeners["local"].web
    web.head_timeout = 0.5
    web.enabled, web.tls, web.admin, web.port = True, False, True, _free_port()
    cfg.datadir.ensure()
    store = Store(cfg.datadir)
    try:
        async with AsyncExitStack() as stack:
            await start_web(cfg, store, MockResolver({}), stack)
            # Silent after connecting.
            r1, w1 = await asyncio.open_connection("127.0.0.1", web.port)
            # A head that never ends.
            r2, w2 = await asyncio.open_connection("127.0.0.1", web.port)
            w2.write(b"GET /admin/login HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            await w2.drain()
            # A complete request on a kept-alive connection, then a partial second one.
            r3, w3 = await asyncio.open_connection("127.0.0.1", web.port)
            w3.write(b"GET /admin/login HTTP/1.1\r\nHost: x\r\n\r\n")
            await w3.drain()
            first = await asyncio.wait_for(r3.readuntil(b"\r\n\r\n"), 5)
            assert first.startswith(b"HTTP/1.1 200")
            length = int(
                next(
                    line.split(b":")[1]
                    for line in first.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
            )
            await r3.readexactly(length)
            w3.write(b"GET /admin/login HTTP/1.1\r\nHost: x\r\n")
            await w3.drain()
            results = await asyncio.gather(
                _closed_within(r1, 5), _closed_within(r2, 5), _closed_within(r3, 5)
            )
            assert results == [True, True, True]
            # A normal client is unaffected.
            r4, w4 = await asyncio.open_connection("127.0.0.1", web.port)
            w4.write(b"GET /admin/login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            await w4.drain()
            response = await asyncio.wait_for(r4.read(), 5)
            assert response.startswith(b"HTTP/1.1 200")
            for w in (w1, w2, w3, w4):
                w.close()
    finally:
        store.close()
