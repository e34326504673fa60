"""The main process's hold on the SMTP ports while workers serve them.

Each port is bound (SO_REUSEADDR, SO_REUSEPORT) but never listened on: bind
errors show at start in the main process, port 0 becomes a real port that all
workers then share, and the port stays ours while a crashed worker restarts.
Only listening sockets get connections, so these take none.
"""

from __future__ import annotations

import contextlib
import socket
from dataclasses import dataclass

from postel.config import Config
from postel.smtpserver.context import Kind
from postel.smtpserver.errors import BindError
from postel.smtpserver.service import listen_plan


@dataclass
class Reserved:
    listener: str
    kind: Kind
    ip: str
    port: int
    sock: socket.socket


def reserve_ports(cfg: Config) -> list[Reserved]:
    """Bind every SMTP port of *cfg*; raise BindError (nothing kept) on failure."""
    if not hasattr(socket, "SO_REUSEPORT"):
        raise BindError("SMTP worker processes need SO_REUSEPORT; set [limits] smtp_workers = 1")
    out: list[Reserved] = []
    try:
        for name, kind, ip, port in listen_plan(cfg):
            out.append(Reserved(name, kind, ip, 0, _bind(name, kind, ip, port)))
            out[-1].port = int(out[-1].sock.getsockname()[1])
    except BaseException:
        release(out)
        raise
    return out


def _bind(name: str, kind: str, ip: str, port: int) -> socket.socket:
    try:
        infos = socket.getaddrinfo(ip, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, socktype, proto, _, addr = infos[0]
        sock = socket.socket(family, socktype, proto)
    except OSError as exc:
        raise BindError(
            f"listener {name!r}: cannot listen for {kind} on {ip} port {port}: {exc}"
        ) from exc
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(addr)
    except OSError as exc:
        sock.close()
        raise BindError(
            f"listener {name!r}: cannot listen for {kind} on {ip} port {port}: {exc}"
        ) from exc
    if port and _someone_listens(family, addr):
        # SO_REUSEPORT lets us bind next to another process of this user (e.g. a
        # second `postel serve`): refuse instead of silently sharing its port.
        sock.close()
        raise BindError(
            f"listener {name!r}: cannot listen for {kind} on {ip} port {port}: "
            "address already in use (another process listens on it)"
        )
    return sock


def _someone_listens(family: int, addr: tuple[object, ...]) -> bool:
    host = str(addr[0])
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect((host, *addr[1:]))
        except OSError:
            return False
        return True


def release(reserved: list[Reserved]) -> None:
    for r in reserved:
        with contextlib.suppress(OSError):
            r.sock.close()
