"""A local HTTPS policy server on 127.0.0.1 with a trustme CA (helpers for tests/mtasts)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import trustme

from postel.dns.mock import MockResolver
from postel.mtasts.fetch import make_ssl_context
from postel.netpolicy import AddressPolicy

DOMAIN = "example.com"
HOST = "mta-sts.example.com"
# The test servers listen on loopback, which fetches refuse unless allowed.
LOOPBACK = AddressPolicy.from_networks(["127.0.0.0/8", "::1/128"])

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def http_response(
    body: bytes,
    status: str = "200 OK",
    headers: dict[str, str] | None = None,
    *,
    content_length: bool = True,
) -> bytes:
    hdrs = {"Content-Type": "text/plain"} if headers is None else dict(headers)
    if content_length:
        hdrs["Content-Length"] = str(len(body))
    head = f"HTTP/1.1 {status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
    return head.encode() + b"\r\n" + body


@dataclass
class PolicyServer:
    ca: trustme.CA
    ca_file: Path
    port: int
    response: bytes = b""
    handler: Handler | None = None
    requests: list[bytes] = field(default_factory=list)
    sni: list[str | None] = field(default_factory=list)

    def client_context(self) -> ssl.SSLContext:
        return make_ssl_context([self.ca_file], system_cas=False)

    def resolver(self) -> MockResolver:
        return MockResolver({(HOST, "A"): ["127.0.0.1"], (HOST, "AAAA"): []})


def server_context(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*(names or (HOST,))).configure_cert(ctx)
    return ctx


async def start_server(
    ctx: ssl.SSLContext, ca: trustme.CA, ca_file: Path
) -> tuple[asyncio.Server, PolicyServer]:
    """Serve ``PolicyServer.response`` (or run its ``handler``) for each connection."""
    holder: list[PolicyServer] = []

    def on_sni(sock: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        holder[0].sni.append(name)

    ctx.sni_callback = on_sni

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        srv = holder[0]
        try:
            if srv.handler is not None:
                await srv.handler(reader, writer)
                return
            srv.requests.append(await reader.readuntil(b"\r\n\r\n"))
            writer.write(srv.response)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx)
    port = server.sockets[0].getsockname()[1]
    holder.append(PolicyServer(ca=ca, ca_file=ca_file, port=port))
    return server, holder[0]
