"""start_web: uvicorn listeners in postel's loop, reported, and stopped with the stack."""

from __future__ import annotations

import socket
from contextlib import AsyncExitStack

import httpx
import pytest
from webtestlib import Instance

from postel.localserve import DOMAIN
from postel.web import ListenError, start_web


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_start_and_stop(instance: Instance) -> None:
    port = free_port()
    lst = instance.cfg.static.listeners["local"]
    lst.web.port = port
    base = f"http://127.0.0.1:{port}"
    async with AsyncExitStack() as stack:
        bound = await start_web(instance.cfg, instance.store, instance.resolver, stack)
        assert ("127.0.0.1", port, "admin") in bound
        assert ("127.0.0.1", port, "mtasts") in bound
        async with httpx.AsyncClient() as client:
            r = await client.get(base + "/admin/login")
            assert r.status_code == 200
            assert r.headers["x-frame-options"] == "DENY"
            assert "server" not in r.headers
            r = await client.get(
                base + "/.well-known/mta-sts.txt", headers={"host": f"mta-sts.{DOMAIN}"}
            )
            assert r.status_code == 200 and "mode: enforce" in r.text
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as client:
            await client.get(base + "/admin/login")


async def test_port_in_use(instance: Instance) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        instance.cfg.static.listeners["local"].web.port = s.getsockname()[1]
        async with AsyncExitStack() as stack:
            with pytest.raises(ListenError, match=r"127\.0\.0\.1 port"):
                await start_web(instance.cfg, instance.store, instance.resolver, stack)
