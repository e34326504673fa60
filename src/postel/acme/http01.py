"""The HTTP-01 responder (RFC 8555 §8.3): answers only
/.well-known/acme-challenge/<token>, one request per connection."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from collections.abc import Mapping

from postel.acme.challenges import Challenges
from postel.tlsreload import ChallengeSource

log = logging.getLogger("postel.acme")

PREFIX = "/.well-known/acme-challenge/"
MAX_HEAD = 8192
HEAD_TIMEOUT = 10.0


def _reply(status: str, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: text/plain\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


def key_authorization(path: str, challenges: ChallengeSource) -> str | None:
    """The body for a GET of *path*, if it asks for a pending token (RFC 8555 §8.3)."""
    if not path.startswith(PREFIX):
        return None
    return challenges.http_answer(path[len(PREFIX) :])


def answer(request_line: bytes, challenges: Challenges) -> bytes:
    """The response to one request line (pure: tested without sockets)."""
    parts = request_line.decode("latin-1").split()
    if len(parts) != 3 or parts[0] not in ("GET", "HEAD"):
        return _reply("400 Bad Request", b"bad request\n")
    key_auth = key_authorization(parts[1], challenges)
    if key_auth is not None:
        body = key_auth.encode("ascii")
        return _reply("200 OK", body if parts[0] == "GET" else b"")
    return _reply("404 Not Found", b"not found\n")


class HTTP01Server:
    def __init__(self, challenges: Challenges) -> None:
        self.challenges = challenges
        self.servers: list[asyncio.Server] = []
        self.bound: list[tuple[str, int]] = []

    async def start(
        self, ips: list[str], port: int, sockets: Mapping[str, socket.socket] | None = None
    ) -> None:
        """Listen on *port* of *ips*, or on the sockets bound already (by ip:
        postel.privdrop binds port 80 before it gives up root)."""
        for ip in ips:
            sock = (sockets or {}).get(ip)
            if sock is not None:
                server = await asyncio.start_server(self._handle, sock=sock, limit=MAX_HEAD)
            else:
                v6 = ipaddress.ip_address(ip).version == 6
                server = await asyncio.start_server(
                    self._handle,
                    ip,
                    port,
                    family=socket.AF_INET6 if v6 else socket.AF_INET,
                    reuse_address=True,
                    limit=MAX_HEAD,
                )
            self.servers.append(server)
            for sock in server.sockets:
                self.bound.append((ip, int(sock.getsockname()[1])))

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(HEAD_TIMEOUT):
                line = await reader.readline()
                size = len(line)
                while size <= MAX_HEAD:  # header lines up to the empty one, ignored
                    header = await reader.readline()
                    size += len(header)
                    if header.strip() == b"":
                        break
            writer.write(answer(line.strip(), self.challenges))
            await asyncio.wait_for(writer.drain(), HEAD_TIMEOUT)
        except (OSError, TimeoutError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        for server in self.servers:
            server.close()
        for server in self.servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2)
