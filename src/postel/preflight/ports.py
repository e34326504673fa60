"""Can each configured address and port be bound? Tried and released at once."""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass

from postel.preflight.errors import PortInUseError, StartupError
from postel.tcpsocket import bound_socket


@dataclass(frozen=True)
class Endpoint:
    """One configured socket: where it is (ip, port) and what configures it."""

    ip: str
    port: int
    what: str  # e.g. "listener 'main' smtp"
    setting: str  # e.g. "listeners.main.smtp.port"
    listener: str = ""
    kind: str = ""  # smtp, submission, submissions, imap, imaps or web


def address(ip: str, port: int) -> str:
    """``ip:port``, with brackets around an IPv6 address (RFC 3986 §3.2.2)."""
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


LISTEN_BACKLOG = 100  # as asyncio's create_server


def bind_endpoint(ep: Endpoint, config_file: str) -> socket.socket:
    """A socket bound to *ep* (not yet listening); StartupError saying what to do."""
    try:
        return bound_socket(ep.ip, ep.port)  # as the listeners bind theirs
    except OSError as exc:
        where = f"{address(ep.ip, ep.port)} ({ep.what})"
        raise _bind_error(exc, where, ep, config_file) from None


def listen_endpoint(ep: Endpoint, config_file: str) -> socket.socket:
    """A listening socket on *ep*, for a server that may not bind it itself."""
    sock = bind_endpoint(ep, config_file)
    sock.listen(LISTEN_BACKLOG)
    sock.setblocking(False)
    return sock


def check_endpoint(ep: Endpoint, config_file: str) -> None:
    """Bind *ep* and close it again; raise StartupError saying what to do."""
    if ep.port == 0:  # any free port: nothing to check
        return
    bind_endpoint(ep, config_file).close()


def _bind_error(exc: OSError, where: str, ep: Endpoint, config_file: str) -> StartupError:
    change = f"{ep.setting} in {config_file}"
    if exc.errno == errno.EADDRINUSE:
        return PortInUseError(
            f"{where}: address already in use by another program; "
            f"stop that program or change {change}"
        )
    if exc.errno in (errno.EACCES, errno.EPERM):
        return StartupError(
            f"{where}: permission denied; ports below 1024 need postel started as root "
            f"or with CAP_NET_BIND_SERVICE, or change {change}"
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return StartupError(
            f"{where}: no such address on this machine; change the listener's ips in {config_file}"
        )
    return StartupError(f"{where}: cannot listen: {exc.strerror or exc}; check {change}")
