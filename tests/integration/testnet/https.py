"""A small HTTPS server on port 443 of loopback addresses, in its own thread and loop.

Routes are (host, path) -> (status, body). The certificate is chosen by SNI per
host: "valid" (issued by the test CA), "wrong-name", "expired" or "untrusted"
(issued by a CA nobody trusts).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ssl
import threading
import weakref
from dataclasses import dataclass
from http import HTTPStatus

import trustme

CERT_KINDS = ("valid", "wrong-name", "expired", "untrusted")


@dataclass
class Route:
    status: int
    body: bytes
    content_type: str


@dataclass
class Request:
    ip: str
    sni: str | None
    host: str
    method: str
    path: str


class HTTPSServer:
    def __init__(self, ca: trustme.CA) -> None:
        self.ca = ca
        self._untrusted_ca = trustme.CA(organization_name="untrusted test CA")
        self.routes: dict[tuple[str, str], Route] = {}
        self.cert_kind: dict[str, str] = {}
        self.requests: list[Request] = []
        self._contexts: dict[tuple[str, str], ssl.SSLContext] = {}
        self._sni_seen: weakref.WeakKeyDictionary[ssl.SSLObject, str | None] = (
            weakref.WeakKeyDictionary()
        )
        self._servers: dict[str, asyncio.Server] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="testnet-https", daemon=True
        )
        self._thread.start()

    # certificates

    def _context(self, host: str, kind: str) -> ssl.SSLContext:
        key = (host, kind)
        if key not in self._contexts:
            now = datetime.datetime.now(datetime.UTC)
            if kind == "valid":
                cert = self.ca.issue_cert(host)
            elif kind == "wrong-name":
                cert = self.ca.issue_cert("wrong-name.invalid")
            elif kind == "expired":
                cert = self.ca.issue_cert(
                    host,
                    not_before=now - datetime.timedelta(days=30),
                    not_after=now - datetime.timedelta(days=1),
                )
            elif kind == "untrusted":
                cert = self._untrusted_ca.issue_cert(host)
            else:
                raise ValueError(f"cert must be one of {CERT_KINDS}, not {kind!r}")
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            ctx.set_alpn_protocols(["http/1.1"])
            cert.configure_cert(ctx)
            self._contexts[key] = ctx
        return self._contexts[key]

    def _sni(self, sslobj: ssl.SSLObject, server_name: str | None, _ctx: ssl.SSLContext) -> None:
        host = (server_name or "").lower().rstrip(".")
        self._sni_seen[sslobj] = server_name
        sslobj.context = self._context(host or "no-sni.invalid", self.cert_kind.get(host, "valid"))

    # serving

    def serve(
        self,
        ip: str,
        host: str,
        path: str,
        body: bytes,
        status: int = 200,
        cert: str = "valid",
        content_type: str = "text/plain",
    ) -> None:
        if cert not in CERT_KINDS:
            raise ValueError(f"cert must be one of {CERT_KINDS}, not {cert!r}")
        host = host.lower().rstrip(".")
        self._context(host, cert)  # issue now, not during a handshake
        self.cert_kind[host] = cert
        self.routes[host, path] = Route(status, body, content_type)
        if ip not in self._servers:
            fut = asyncio.run_coroutine_threadsafe(self._listen(ip), self._loop)
            self._servers[ip] = fut.result(timeout=10)

    def unserve(self, host: str, path: str) -> None:
        self.routes.pop((host.lower().rstrip("."), path), None)

    async def _listen(self, ip: str) -> asyncio.Server:
        # Clients without SNI get a certificate for no-sni.invalid; the others get
        # their host's certificate from the SNI callback.
        listener = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        listener.minimum_version = ssl.TLSVersion.TLSv1_2
        listener.set_alpn_protocols(["http/1.1"])
        self.ca.issue_cert("no-sni.invalid").configure_cert(listener)
        listener.sni_callback = self._sni

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                await asyncio.wait_for(self._handle(ip, reader, writer), timeout=10)
            except (TimeoutError, ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
                pass
            finally:
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()

        return await asyncio.start_server(handle, ip, 443, ssl=listener, reuse_address=True)

    async def _handle(
        self, ip: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path, _version = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        sslobj = writer.get_extra_info("ssl_object")
        sni = self._sni_seen.get(sslobj) if sslobj is not None else None
        host = headers.get("host", sni or "").lower().split(":", 1)[0].rstrip(".")
        self.requests.append(Request(ip, sni, host, method, path))
        route = self.routes.get((host, path))
        if route is None or method not in ("GET", "HEAD"):
            route = Route(404, b"not found\n", "text/plain")
        reason = (
            HTTPStatus(route.status).phrase if route.status in HTTPStatus._value2member_map_ else ""
        )
        out = (
            f"HTTP/1.1 {route.status} {reason}\r\n"
            f"Content-Type: {route.content_type}\r\n"
            f"Content-Length: {len(route.body)}\r\n"
            "Connection: close\r\n\r\n"
        ).encode("latin-1")
        if method != "HEAD":
            out += route.body
        writer.write(out)
        await writer.drain()

    def stop(self) -> None:
        async def close_all() -> None:
            for server in self._servers.values():
                server.close()
            for server in self._servers.values():
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(server.wait_closed(), 2)

        if self._loop.is_running():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(close_all(), self._loop).result(timeout=5)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
        self._servers.clear()
