"""HTTPS POST of a gzipped report to an `https:` rua (RFC 8460 §5.4).

The host is resolved with postel's resolver; internal addresses (loopback,
private, ...: postel.netpolicy) are not connected to unless allowed, since the
URI comes from the reported domain's DNS. The connection verifies PKIX
against the system CAs and configured extra CA files. Only the status line of
the response matters (2xx: accepted); everything is bounded in time and size.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import re
import ssl
import urllib.parse
from dataclasses import dataclass

import postel
from postel.dns import DNSError, NotFound, Resolver
from postel.netpolicy import PUBLIC_ONLY, AddressPolicy
from postel.tlsrptsend.errors import ReportDeliveryError

CONTENT_TYPE = "application/tlsrpt+gzip"  # RFC 8460 §6.4
DEFAULT_TIMEOUT = 60.0
CONNECT_TIMEOUT = 15.0
_HEAD_LIMIT = 16 * 1024
_STATUS = re.compile(rb"HTTP/1\.[01] ([0-9]{3})(?: ([^\r\n]*))?")

_log = logging.getLogger("postel.tlsrptsend")


@dataclass(frozen=True)
class PostResult:
    uri: str
    ip: str
    status: int
    reason: str


def request_bytes(host: str, port: int, target: str, body: bytes) -> bytes:
    """The POST request head and body, closing the connection afterwards."""
    hostport = host if port == 443 else f"{host}:{port}"
    if ":" in host and not host.startswith("["):
        hostport = f"[{host}]" if port == 443 else f"[{host}]:{port}"
    head = [
        f"POST {target} HTTP/1.1",
        f"Host: {hostport}",
        f"User-Agent: postel/{postel.__version__}",
        f"Content-Type: {CONTENT_TYPE}",
        f"Content-Length: {len(body)}",
        "Connection: close",
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode("ascii") + body


async def _addresses(resolver: Resolver, host: str, uri: str) -> list[str]:
    try:
        return [str(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:
        pass
    ips: list[str] = []
    temporary: DNSError | None = None
    for rdtype in ("AAAA", "A"):
        try:
            answer = await resolver.lookup(host, rdtype)
        except NotFound:
            continue
        except DNSError as e:
            temporary = e
            continue
        ips.extend(rd.to_text() for rd in answer.records)
    if not ips:
        if temporary is not None:
            raise ReportDeliveryError(f"resolving {host}: {temporary}", uri=uri, permanent=False)
        raise ReportDeliveryError(f"host {host} not found", uri=uri, permanent=True)
    return ips


async def post_report(
    resolver: Resolver,
    uri: str,
    body: bytes,
    *,
    ssl_context: ssl.SSLContext,
    timeout: float = DEFAULT_TIMEOUT,
    logger: logging.Logger | None = None,
    addresses: AddressPolicy = PUBLIC_ONLY,
) -> PostResult:
    """POST *body* (gzipped report) to *uri*; raises ReportDeliveryError unless 2xx.
    Only addresses that *addresses* permits are connected to."""
    log = logger or _log
    try:
        parts = urllib.parse.urlsplit(uri)
        host = parts.hostname or ""
        port = parts.port or 443
    except ValueError as e:
        raise ReportDeliveryError(f"invalid URI: {e}", uri=uri, permanent=True) from None
    if parts.scheme.lower() != "https" or not host:
        raise ReportDeliveryError("not an https URI with a host", uri=uri, permanent=True)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    try:
        async with asyncio.timeout(timeout):
            ips, refused = addresses.split(await _addresses(resolver, host, uri))
            if not ips:
                ip, why = refused[0]
                what = f"{ip} is {why}"
                if ip != host.strip("[]"):
                    what = f"{host} resolves only to internal addresses ({what})"
                raise ReportDeliveryError(f"{what}, not posted", uri=uri, permanent=True)
            last: ReportDeliveryError | None = None
            for n, ip in enumerate(ips, start=1):
                try:
                    return await _post_one(
                        ip,
                        port,
                        host,
                        target,
                        body,
                        ssl_context,
                        uri,
                        CONNECT_TIMEOUT if n < len(ips) else None,
                    )
                except ReportDeliveryError as e:
                    if e.permanent:
                        raise
                    last = e
                    log.debug(
                        "report post failed, trying next address",
                        extra={"uri": uri, "ip": ip, "error": str(e)},
                    )
            assert last is not None
            raise last
    except TimeoutError:
        raise ReportDeliveryError(
            f"timed out after {timeout:g} s", uri=uri, permanent=False
        ) from None


async def _post_one(
    ip: str,
    port: int,
    host: str,
    target: str,
    body: bytes,
    ctx: ssl.SSLContext,
    uri: str,
    connect_timeout: float | None,
) -> PostResult:
    try:
        async with asyncio.timeout(connect_timeout):
            reader, writer = await asyncio.open_connection(
                ip, port, ssl=ctx, server_hostname=host, limit=_HEAD_LIMIT
            )
    except ssl.SSLCertVerificationError as e:
        raise ReportDeliveryError(
            f"certificate of {ip} not valid for {host}: {e.verify_message or e.reason}",
            uri=uri,
            permanent=False,
        ) from None
    except (OSError, TimeoutError, ssl.SSLError) as e:
        raise ReportDeliveryError(
            f"connecting to {ip} port {port}: {str(e) or 'timed out'}", uri=uri, permanent=False
        ) from None
    try:
        writer.write(request_bytes(host, port, target, body))
        await writer.drain()
        line = await reader.readuntil(b"\r\n")
    except (OSError, ssl.SSLError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as e:
        raise ReportDeliveryError(
            f"HTTP exchange with {ip}: {e}", uri=uri, permanent=False
        ) from None
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(writer.wait_closed(), 2)
    m = _STATUS.fullmatch(line.rstrip(b"\r\n"))
    if m is None:
        raise ReportDeliveryError(
            f"malformed HTTP status line {line[:80]!r}", uri=uri, permanent=False
        )
    status, reason = int(m.group(1)), (m.group(2) or b"").decode("latin-1")
    if not 200 <= status < 300:
        raise ReportDeliveryError(
            f"HTTP {status} {reason} from {ip}", uri=uri, permanent=400 <= status < 500
        )
    return PostResult(uri=uri, ip=ip, status=status, reason=reason)
