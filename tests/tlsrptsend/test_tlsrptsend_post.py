"""HTTPS POST of reports (RFC 8460 §5.4) against a local TLS server."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
import trustme

from postel.dns import TemporaryError
from postel.dns.mock import MockResolver
from postel.mtasts.fetch import make_ssl_context
from postel.netpolicy import AddressPolicy
from postel.tlsrptsend.errors import ReportDeliveryError
from postel.tlsrptsend.post import post_report

HOST = "reports.example"
LOOPBACK = AddressPolicy.from_networks(["127.0.0.0/8", "::1/128"])  # the test server


@dataclass
class Server:
    port: int
    status: int = 200
    hang: bool = False
    requests: list[tuple[bytes, bytes]] = field(default_factory=list)  # (head, body)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture()
async def server(ca: trustme.CA) -> AsyncIterator[Server]:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(HOST).configure_cert(ctx)
    srv = Server(0)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            body = await reader.readexactly(length)
            srv.requests.append((head, body))
            if srv.hang:
                await asyncio.sleep(30)
            writer.write(f"HTTP/1.1 {srv.status} Whatever\r\nContent-Length: 0\r\n\r\n".encode())
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()

    s = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx)
    srv.port = s.sockets[0].getsockname()[1]
    yield srv
    s.close()


def resolver() -> MockResolver:
    return MockResolver({(HOST, "A"): ["127.0.0.1"], (HOST, "AAAA"): []})


def client_ctx(ca: trustme.CA) -> ssl.SSLContext:
    ctx = make_ssl_context(system_cas=False)
    ca.configure_trust(ctx)
    return ctx


async def test_post_ok(server: Server, ca: trustme.CA) -> None:
    uri = f"https://{HOST}:{server.port}/tlsrpt?x=1"
    r = await post_report(
        resolver(), uri, b"\x1f\x8bgzip", ssl_context=client_ctx(ca), addresses=LOOPBACK
    )
    assert (r.status, r.ip) == (200, "127.0.0.1")
    ((head, body),) = server.requests
    assert body == b"\x1f\x8bgzip"
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /tlsrpt?x=1 HTTP/1.1"
    assert f"Host: {HOST}:{server.port}" in lines
    assert "Content-Type: application/tlsrpt+gzip" in lines


@pytest.mark.parametrize(("status", "permanent"), [(500, False), (404, True), (301, False)])
async def test_post_error_status(
    server: Server, ca: trustme.CA, status: int, permanent: bool
) -> None:
    server.status = status
    with pytest.raises(ReportDeliveryError, match=f"HTTP {status}") as exc:
        await post_report(
            resolver(),
            f"https://{HOST}:{server.port}/",
            b"x",
            ssl_context=client_ctx(ca),
            addresses=LOOPBACK,
        )
    assert exc.value.permanent is permanent


async def test_post_untrusted_certificate(server: Server) -> None:
    other = trustme.CA()
    with pytest.raises(ReportDeliveryError, match="certificate"):
        await post_report(
            resolver(),
            f"https://{HOST}:{server.port}/",
            b"x",
            ssl_context=client_ctx(other),
            addresses=LOOPBACK,
        )
    assert server.requests == []


async def test_post_dns_problems(ca: trustme.CA) -> None:
    with pytest.raises(ReportDeliveryError, match="not found") as exc:
        await post_report(MockResolver({}), f"https://{HOST}/", b"x", ssl_context=client_ctx(ca))
    assert exc.value.permanent
    broken = MockResolver({(HOST, "*"): TemporaryError("SERVFAIL")})
    with pytest.raises(ReportDeliveryError, match="resolving") as exc:
        await post_report(broken, f"https://{HOST}/", b"x", ssl_context=client_ctx(ca))
    assert not exc.value.permanent


async def test_post_timeout_is_bounded(server: Server, ca: trustme.CA) -> None:
    server.hang = True
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(ReportDeliveryError, match="timed out"):
        await post_report(
            resolver(),
            f"https://{HOST}:{server.port}/",
            b"x",
            ssl_context=client_ctx(ca),
            timeout=0.5,
            addresses=LOOPBACK,
        )
    assert loop.time() - start < 3


async def test_post_rejects_other_schemes(ca: trustme.CA) -> None:
    with pytest.raises(ReportDeliveryError, match="not an https URI") as exc:
        await post_report(resolver(), "mailto:x@y.example", b"x", ssl_context=client_ctx(ca))
    assert exc.value.permanent


async def test_post_to_internal_address_refused(server: Server, ca: trustme.CA) -> None:
    # The rua comes from the reported domain's DNS: it must not reach internal
    # services, by name or as an address literal.
    for uri, why in [
        (
            f"https://{HOST}:{server.port}/",
            f"{HOST} resolves only to internal addresses (127.0.0.1 is a loopback address)",
        ),
        (f"https://127.0.0.1:{server.port}/", "127.0.0.1 is a loopback address"),
        (f"https://[::1]:{server.port}/", "::1 is a loopback address"),
    ]:
        with pytest.raises(ReportDeliveryError) as exc:
            await post_report(resolver(), uri, b"x", ssl_context=client_ctx(ca))
        assert exc.value.permanent
        assert str(exc.value).endswith(f"{why}, not posted"), str(exc.value)
    assert server.requests == []
