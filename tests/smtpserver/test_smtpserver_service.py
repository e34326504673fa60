"""SMTPService start/stop, bind errors, connection limits and timeouts."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
from smtpserver_env import Env, run

from postel.dns.mock import MockResolver
from postel.smtpserver import BindError, LocalSubmitter, SMTPService


def greet(port: int) -> tuple[socket.socket, bytes]:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    return s, s.makefile("rb").readline()


async def test_bound_ports(env: Env) -> None:
    kinds = sorted(k for _, _, k in env.service.bound)
    assert kinds == ["smtp", "submission", "submissions"]
    assert all(ip == "127.0.0.1" and port > 0 for ip, port, _ in env.service.bound)


async def test_bind_error(env: Env) -> None:
    listener = env.cfg.static.listeners["local"]
    listener.smtp.port = env.ports["smtp"]  # already in use
    other = SMTPService(env.cfg, env.store, MockResolver(), LocalSubmitter(env.cfg, env.store))
    with pytest.raises(BindError, match=f"port {env.ports['smtp']}"):
        await other.start()
    assert other._servers == []


async def test_max_connections(env: Env) -> None:
    env.cfg.static.limits.max_connections = 1
    first, banner = await run(lambda: greet(env.ports["smtp"]))
    try:
        assert banner.startswith(b"220 ")
        second, refused = await run(lambda: greet(env.ports["smtp"]))
        second.close()
        assert refused.startswith(b"421 4.7.0")
    finally:
        first.close()


async def test_command_timeout(env: Env) -> None:
    env.cfg.static.limits.command_timeout = 0.3

    def go() -> bytes:
        s, _ = greet(env.ports["smtp"])
        with s:
            f = s.makefile("rb")
            return f.readline()

    assert (await run(go)).startswith(b"421 4.4.2")


async def test_connection_timeout(env: Env) -> None:
    env.cfg.static.limits.connection_timeout = 0.6

    def go() -> tuple[list[bytes], float]:
        start = time.monotonic()
        s, _ = greet(env.ports["smtp"])
        lines = []
        with s:
            f = s.makefile("rb")
            for _ in range(20):
                s.sendall(b"NOOP\r\n")
                line = f.readline()
                lines.append(line)
                if not line.startswith(b"250"):
                    break
                time.sleep(0.1)
        return lines, time.monotonic() - start

    lines, took = await run(go)
    assert lines[-1].startswith(b"421 4.4.2")
    assert took < 3


async def test_stop_closes_idle_sessions(env: Env) -> None:
    s, banner = await run(lambda: greet(env.ports["smtp"]))
    with s:
        assert banner.startswith(b"220")
        started = time.monotonic()
        await env.service.stop()
        assert time.monotonic() - started < 3
        goodbye = await run(lambda: s.makefile("rb").readline())
        assert goodbye.startswith(b"421 4.3.2")
    with pytest.raises(OSError):
        await asyncio.wait_for(asyncio.open_connection("127.0.0.1", env.ports["smtp"]), 2)
