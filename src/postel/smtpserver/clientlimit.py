"""Concurrent SMTP connections per client, so that one client cannot take all
of ``max_connections`` (``[limits] max_connections_per_ip``).

A client is an IPv4 address or an IPv6 /64: one host usually holds a whole
/64 and can pick any address in it (RFC 4291 §2.5.4 interface identifiers).
Addresses in ``[limits] connection_limit_exempt`` (loopback by default, e.g.
a local content filter re-injecting mail) are not counted.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Sequence

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _address(ip: str) -> IPAddress | None:
    """*ip* parsed (an IPv6 zone dropped, an IPv4-mapped IPv6 address as
    IPv4); None when it is not an address."""
    try:
        addr = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


@functools.lru_cache(maxsize=8)
def _networks(exempt: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(n, strict=False) for n in exempt)


def client_key(ip: str, exempt: Sequence[str] = ()) -> str | None:
    """The client *ip* is counted under: the IPv4 address (also when mapped
    into IPv6) or the IPv6 /64; *ip* itself when it is not an address; None
    when it lies in one of the networks *exempt* (not counted)."""
    addr = _address(ip)
    if addr is None:
        return ip
    if any(addr in net for net in _networks(tuple(exempt))):
        return None
    if isinstance(addr, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((addr, 64), strict=False))
    return str(addr)


class ClientConnections:
    """Open connections per client key (one event loop: no locking)."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}

    def count(self, key: str) -> int:
        return self._counts.get(key, 0)

    def add(self, key: str) -> None:
        self._counts[key] = self._counts.get(key, 0) + 1

    def remove(self, key: str) -> None:
        left = self._counts.get(key, 0) - 1
        if left > 0:
            self._counts[key] = left
        else:
            self._counts.pop(key, None)

    def __len__(self) -> int:
        return len(self._counts)
