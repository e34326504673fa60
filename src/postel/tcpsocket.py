"""Listening TCP sockets, made the same way for every listener (SMTP, IMAP,
web, metrics, and the ports bound before dropping privileges)."""

from __future__ import annotations

import ipaddress
import socket


def bound_socket(ip: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A TCP socket bound to *ip* port *port*, not yet listening. SO_REUSEADDR,
    so a port in TIME_WAIT is no conflict; IPv6 sockets take IPv6 only, so the
    same port can be bound on an IPv4 address too. OSError (the socket closed)
    when it cannot be bound."""
    family = socket.AF_INET6 if ipaddress.ip_address(ip).version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((ip, port))
    except OSError:
        sock.close()
        raise
    return sock


def listening_socket(ip: str, port: int, backlog: int) -> socket.socket:
    """bound_socket, listening and non-blocking (for asyncio servers)."""
    sock = bound_socket(ip, port)
    try:
        sock.listen(backlog)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock
