"""Policy fetch (RFC 8461 §3.3) against a local TLS server on 127.0.0.1 with a trustme CA."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from pathlib import Path
from typing import Any

import pytest
import trustme
from mtasts_server import (
    DOMAIN,
    HOST,
    LOOPBACK,
    PolicyServer,
    http_response,
    server_context,
    start_server,
)

from postel.dns import TemporaryError as DNSTemporaryError
from postel.dns.mock import MockResolver
from postel.mtasts.errors import (
    RESULT_FETCH_ERROR,
    RESULT_WEBPKI_INVALID,
    NoPolicy,
    PolicyFetchError,
    PolicySyntaxError,
)
from postel.mtasts.fetch import FetchResult, fetch_policy, make_ssl_context, policy_url
from postel.mtasts.policy import MAX_POLICY_SIZE, Mode
from postel.netpolicy import AddressPolicy

POLICY = b"version: STSv1\r\nmode: enforce\r\nmx: mx.example.com\r\nmax_age: 86400\r\n"
TIMEOUT = 5.0


async def fetch(srv: PolicyServer, **kw: Any) -> FetchResult:
    options: dict[str, Any] = {
        "ssl_context": srv.client_context(),
        "port": srv.port,
        "timeout": TIMEOUT,
        "addresses": LOOPBACK,
    }
    options.update(kw)
    return await fetch_policy(srv.resolver(), DOMAIN, **options)


async def test_fetch_ok(policy_server: PolicyServer) -> None:
    policy_server.response = http_response(POLICY)
    result = await fetch_policy(
        policy_server.resolver(),
        DOMAIN,
        ssl_context=policy_server.client_context(),
        addresses=LOOPBACK,
        port=policy_server.port,
        timeout=TIMEOUT,
    )
    assert result.policy.mode is Mode.ENFORCE
    assert result.policy.mx == ("mx.example.com",)
    assert result.text == POLICY.decode()
    assert result.url == "https://mta-sts.example.com/.well-known/mta-sts.txt"
    assert result.ip == "127.0.0.1"
    assert result.warnings == ()
    # Request: GET of the well-known path, Host and SNI the policy host.
    request = policy_server.requests[0].decode()
    assert request.startswith("GET /.well-known/mta-sts.txt HTTP/1.1\r\n")
    assert "\r\nHost: mta-sts.example.com\r\n" in request
    assert policy_server.sni == [HOST]


async def test_fetch_chunked(policy_server: PolicyServer) -> None:
    chunks = b"10;ext=1\r\n" + POLICY[:16] + b"\r\n"
    rest = POLICY[16:]
    chunks += f"{len(rest):X}\r\n".encode() + rest + b"\r\n0\r\nTrailer: x\r\n\r\n"
    policy_server.response = http_response(
        chunks,
        headers={"Content-Type": "text/plain; charset=utf-8", "Transfer-Encoding": "chunked"},
        content_length=False,
    )
    result = await fetch(policy_server)
    assert result.text == POLICY.decode()


async def test_fetch_until_close(policy_server: PolicyServer) -> None:
    policy_server.response = http_response(POLICY, content_length=False)
    result = await fetch(policy_server)
    assert result.policy.max_age == 86400


async def test_wrong_content_type_is_warning(
    policy_server: PolicyServer, caplog: pytest.LogCaptureFixture
) -> None:
    policy_server.response = http_response(POLICY, headers={"Content-Type": "text/html"})
    with caplog.at_level(logging.WARNING, logger="postel.mtasts"):
        result = await fetch(policy_server)
    assert result.warnings == ("Content-Type is text/html, expected text/plain",)
    assert "text/html" in caplog.text


async def test_missing_content_type_is_warning(policy_server: PolicyServer) -> None:
    policy_server.response = http_response(POLICY, headers={})
    result = await fetch(policy_server)
    assert result.warnings == ("Content-Type is missing, expected text/plain",)


@pytest.mark.parametrize("status", ["301 Moved Permanently", "302 Found", "307 Temporary"])
async def test_redirect_not_followed(policy_server: PolicyServer, status: str) -> None:
    policy_server.response = http_response(
        b"", status, {"Location": "https://elsewhere.example/p.txt"}
    )
    with pytest.raises(PolicyFetchError) as exc:
        await fetch(policy_server)
    assert "redirect" in str(exc.value)
    assert "elsewhere.example" in str(exc.value)
    assert exc.value.result_type == RESULT_FETCH_ERROR
    assert len(policy_server.requests) == 1


async def test_404_is_no_policy(policy_server: PolicyServer) -> None:
    policy_server.response = http_response(b"not here", "404 Not Found")
    with pytest.raises(NoPolicy):
        await fetch(policy_server)


@pytest.mark.parametrize("status", ["500 Internal Server Error", "403 Forbidden", "204 No Content"])
async def test_other_status_is_fetch_error(policy_server: PolicyServer, status: str) -> None:
    policy_server.response = http_response(POLICY, status)
    with pytest.raises(PolicyFetchError) as exc:
        await fetch(policy_server)
    assert status.split()[0] in str(exc.value)
    assert exc.value.result_type == RESULT_FETCH_ERROR


@pytest.mark.parametrize("mode", ["content-length", "close", "chunked"])
async def test_oversize_body_is_syntax_error(policy_server: PolicyServer, mode: str) -> None:
    body = POLICY + b"x: " + b"y" * MAX_POLICY_SIZE + b"\n"
    if mode == "content-length":
        policy_server.response = http_response(body)
    elif mode == "close":
        policy_server.response = http_response(body, content_length=False)
    else:
        chunked = b"".join(
            f"{len(body[i : i + 4096]):x}\r\n".encode() + body[i : i + 4096] + b"\r\n"
            for i in range(0, len(body), 4096)
        )
        policy_server.response = http_response(
            chunked + b"0\r\n\r\n",
            headers={"Content-Type": "text/plain", "Transfer-Encoding": "chunked"},
            content_length=False,
        )
    with pytest.raises(PolicySyntaxError) as exc:
        await fetch(policy_server)
    assert "larger than 65536" in str(exc.value)


async def test_body_at_limit_accepted(policy_server: PolicyServer) -> None:
    filler = b"x: " + b"y" * 100 + b"\n"
    body = POLICY + filler * ((MAX_POLICY_SIZE - len(POLICY)) // len(filler))
    body += b"\n" * (MAX_POLICY_SIZE - len(body))
    assert len(body) == MAX_POLICY_SIZE
    policy_server.response = http_response(body, content_length=False)
    result = await fetch(policy_server)
    assert len(result.policy.extensions) > 600


async def test_invalid_policy_is_syntax_error(policy_server: PolicyServer) -> None:
    policy_server.response = http_response(b"version: STSv1\nmode: doubt\n")
    with pytest.raises(PolicySyntaxError) as exc:
        await fetch(policy_server)
    assert exc.value.line == 2


async def test_timeout(policy_server: PolicyServer) -> None:
    async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nversion")
        await reader.read()  # stalls until the client gives up

    policy_server.handler = stall
    start = time.monotonic()
    with pytest.raises(PolicyFetchError) as exc:
        await fetch(policy_server, timeout=0.5)
    assert time.monotonic() - start < 3
    assert "timed out" in str(exc.value)
    assert exc.value.result_type == RESULT_FETCH_ERROR


async def test_wrong_certificate_name(ca: tuple[trustme.CA, Path]) -> None:
    authority, path = ca
    server, srv = await start_server(server_context(authority, "other.example"), authority, path)
    async with server:
        srv.response = http_response(POLICY)
        with pytest.raises(PolicyFetchError) as exc:
            await fetch(srv)
    assert exc.value.result_type == RESULT_WEBPKI_INVALID
    assert "certificate" in str(exc.value)
    assert srv.requests == []


async def test_untrusted_ca(ca: tuple[trustme.CA, Path]) -> None:
    authority, path = ca
    other = trustme.CA()
    server, srv = await start_server(server_context(other), authority, path)
    async with server:
        srv.response = http_response(POLICY)
        with pytest.raises(PolicyFetchError) as exc:
            await fetch(srv)
    assert exc.value.result_type == RESULT_WEBPKI_INVALID


async def test_system_cas_alone_do_not_trust_test_ca(policy_server: PolicyServer) -> None:
    policy_server.response = http_response(POLICY)
    with pytest.raises(PolicyFetchError) as exc:
        await fetch(policy_server, ssl_context=make_ssl_context())
    assert exc.value.result_type == RESULT_WEBPKI_INVALID


async def test_host_not_found_is_no_policy() -> None:
    with pytest.raises(NoPolicy) as exc:
        await fetch_policy(MockResolver({}), DOMAIN, timeout=TIMEOUT)
    assert HOST in str(exc.value)
    assert exc.value.result_type == RESULT_FETCH_ERROR


async def test_host_dns_failure_is_fetch_error() -> None:
    resolver = MockResolver({(HOST, "*"): DNSTemporaryError("SERVFAIL")})
    with pytest.raises(PolicyFetchError) as exc:
        await fetch_policy(resolver, DOMAIN, timeout=TIMEOUT)
    assert "DNS lookup failed" in str(exc.value)


async def test_connection_refused() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    resolver = MockResolver({(HOST, "A"): ["127.0.0.1"]})
    with pytest.raises(PolicyFetchError) as exc:
        await fetch_policy(resolver, DOMAIN, port=port, timeout=TIMEOUT, addresses=LOOPBACK)
    assert "127.0.0.1" in str(exc.value)
    assert exc.value.result_type == RESULT_FETCH_ERROR
    # What happened, not the socket error's text.
    assert str(exc.value).endswith(
        f"could not connect to 127.0.0.1 port {port}: connection refused"
    )
    assert "Errno" not in str(exc.value) and "Connect call" not in str(exc.value)


async def _counting_server(host: str) -> tuple[asyncio.Server, list[str]]:
    """A TCP server that records each connection and closes it."""
    seen: list[str] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(writer.get_extra_info("sockname")[0])
        writer.close()

    return await asyncio.start_server(handle, host, 0), seen


async def test_internal_policy_host_not_connected() -> None:
    # DNS points the policy host at a loopback service: refused before connecting.
    server, seen = await _counting_server("127.0.0.9")
    async with server:
        port = server.sockets[0].getsockname()[1]
        resolver = MockResolver({(HOST, "A"): ["127.0.0.9"], (HOST, "AAAA"): ["::1"]})
        with pytest.raises(PolicyFetchError) as exc:
            await fetch_policy(resolver, DOMAIN, port=port, timeout=TIMEOUT)
        await asyncio.sleep(0.05)
    assert seen == []
    assert exc.value.result_type == RESULT_FETCH_ERROR
    assert str(exc.value) == (
        "https://mta-sts.example.com/.well-known/mta-sts.txt: policy host mta-sts.example.com "
        "resolves only to internal addresses (::1 is a loopback address), not fetched"
    )


async def test_internal_addresses_skipped_unless_allowed(policy_server: PolicyServer) -> None:
    policy_server.response = http_response(POLICY)
    server, seen = await _counting_server("127.0.0.2")
    async with server:
        resolver = MockResolver({(HOST, "A"): ["127.0.0.2", "10.0.0.1", "127.0.0.1"]})
        result = await fetch_policy(
            resolver,
            DOMAIN,
            ssl_context=policy_server.client_context(),
            port=policy_server.port,
            timeout=TIMEOUT,
            addresses=AddressPolicy.from_networks(["127.0.0.1/32"]),
        )
    assert result.ip == "127.0.0.1" and seen == []


async def test_tries_next_address(policy_server: PolicyServer) -> None:
    policy_server.response = http_response(POLICY)
    # ::1 on the server's port has nobody listening (or no IPv6): the IPv4 address is next.
    resolver = MockResolver({(HOST, "A"): ["127.0.0.1"], (HOST, "AAAA"): ["::1"]})
    result = await fetch_policy(
        resolver,
        DOMAIN,
        ssl_context=policy_server.client_context(),
        addresses=LOOPBACK,
        port=policy_server.port,
        timeout=TIMEOUT,
    )
    assert result.ip == "127.0.0.1"


async def test_silent_address_skipped(
    policy_server: PolicyServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy_server.response = http_response(POLICY)
    monkeypatch.setattr("postel.mtasts.fetch.CONNECT_TIMEOUT", 0.3)

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Accepts TCP, never answers the TLS handshake; done when the client gives up.
        await reader.read()
        writer.close()

    blackhole = await asyncio.start_server(silent, "127.0.0.2", policy_server.port)
    async with blackhole:
        resolver = MockResolver({(HOST, "A"): ["127.0.0.2", "127.0.0.1"]})
        start = time.monotonic()
        result = await fetch_policy(
            resolver,
            DOMAIN,
            ssl_context=policy_server.client_context(),
            addresses=LOOPBACK,
            port=policy_server.port,
            timeout=TIMEOUT,
        )
        assert time.monotonic() - start < 3
        blackhole.close()
    assert result.ip == "127.0.0.1"


async def test_malformed_response(policy_server: PolicyServer) -> None:
    policy_server.response = b"SMTP 220 hello\r\n\r\n"
    with pytest.raises(PolicyFetchError) as exc:
        await fetch(policy_server)
    assert "status line" in str(exc.value)


async def test_connection_closed_early(policy_server: PolicyServer) -> None:
    policy_server.response = b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\nversion: STSv1\n"
    with pytest.raises(PolicyFetchError) as exc:
        await fetch(policy_server)
    assert "connection" in str(exc.value)


def test_policy_url() -> None:
    assert policy_url("example.org") == "https://mta-sts.example.org/.well-known/mta-sts.txt"
