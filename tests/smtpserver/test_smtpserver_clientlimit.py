"""Concurrent connections per client: [limits] max_connections_per_ip."""

from __future__ import annotations

import asyncio
import socket

import pytest
from smtpserver_env import Env, run

from postel.config.model import Limits
from postel.smtpserver.clientlimit import ClientConnections, client_key


def test_client_key_is_the_ipv4_address_or_the_ipv6_64() -> None:
    assert client_key("192.0.2.7") == "192.0.2.7"
    assert client_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert client_key("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert client_key("2001:db8:1:2:ffff::9") == client_key("2001:db8:1:2::5")
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key("fe80::1%eth0") == "fe80::/64"
    assert client_key("unknown") == "unknown"


def test_exempt_networks_are_not_counted() -> None:
    default = Limits().connection_limit_exempt

    def exempt(ip: str, networks: list[str]) -> bool:
        return client_key(ip, networks) is None

    assert exempt("127.0.0.1", default) and exempt("127.9.9.9", default)
    assert exempt("::1", default) and exempt("::ffff:127.0.0.1", default)
    assert not exempt("192.0.2.1", default) and not exempt("2001:db8::1", default)
    assert exempt("2001:db8::5", ["2001:db8::/32"])
    assert not exempt("not an address", default)


def test_exempt_networks_are_validated() -> None:
    with pytest.raises(ValueError, match="not an IP network: 'localhost'"):
        Limits(connection_limit_exempt=["localhost"])


def test_counts_are_released() -> None:
    c = ClientConnections()
    c.add("a")
    c.add("a")
    c.remove("a")
    assert c.count("a") == 1
    c.remove("a")
    assert c.count("a") == 0 and len(c) == 0


def greet_from(source: str, port: int) -> tuple[socket.socket, bytes]:
    s = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))
    return s, s.makefile("rb").readline()


async def test_second_connection_from_one_client_is_refused(env: Env) -> None:
    env.cfg.static.limits.max_connections_per_ip = 1
    env.cfg.static.limits.connection_limit_exempt = []  # loopback is counted here
    port = env.ports["smtp"]
    first, banner = await run(lambda: greet_from("127.0.0.1", port))
    try:
        assert banner.startswith(b"220 ")
        second, refused = await run(lambda: greet_from("127.0.0.1", port))
        second.close()
        assert refused.startswith(b"421 4.7.0 too many connections from your address")
        other, banner = await run(lambda: greet_from("127.0.0.2", port))  # another client
        other.close()
        assert banner.startswith(b"220 ")
    finally:
        first.close()
    # Once the first has gone, the client may connect again.
    for _ in range(50):
        again, banner = await run(lambda: greet_from("127.0.0.1", port))
        again.close()
        if banner.startswith(b"220 "):
            break
        await asyncio.sleep(0.05)
    assert banner.startswith(b"220 ")


async def test_exempt_clients_are_not_counted(env: Env) -> None:
    env.cfg.static.limits.max_connections_per_ip = 1  # loopback exempt by default
    port = env.ports["smtp"]
    conns = [await run(lambda: greet_from("127.0.0.1", port)) for _ in range(3)]
    try:
        assert all(banner.startswith(b"220 ") for _, banner in conns)
    finally:
        for s, _ in conns:
            s.close()
