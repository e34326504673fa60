"""Ports on 127.0.0.1 for tests that start a server with their own config."""

from __future__ import annotations

import socket


def closed_udp_port() -> int:
    """A UDP port nothing listens on: DNS questions fail at once (ICMP unreachable)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_tcp_port() -> int:
    """A TCP port free at the time of asking."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
