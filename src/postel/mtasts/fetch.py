"""Fetching a policy over HTTPS (RFC 8461 §3.3)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from os import PathLike

import postel
from postel.dns import BogusError, DNSError, NotFound, Resolver
from postel.mtasts.errors import (
    RESULT_WEBPKI_INVALID,
    NoPolicy,
    PolicyFetchError,
    PolicySyntaxError,
)
from postel.mtasts.httphead import (
    ResponseHead,
    build_request,
    content_length,
    is_chunked,
    media_type,
    parse_response_head,
)
from postel.mtasts.policy import MAX_POLICY_SIZE, Policy, parse_policy
from postel.netpolicy import PUBLIC_ONLY, AddressPolicy

WELL_KNOWN_PATH = "/.well-known/mta-sts.txt"
DEFAULT_TIMEOUT = 60.0  # RFC 8461 §3.3: "a timeout of one minute is suggested"
CONNECT_TIMEOUT = 10.0  # per address, when another address remains to be tried
_HEAD_LIMIT = 32 * 1024
_USER_AGENT = f"postel/{postel.__version__}"

_log = logging.getLogger("postel.mtasts")


@dataclass(frozen=True)
class FetchResult:
    """A fetched and parsed policy, with the text as served and lenient-check warnings."""

    url: str
    ip: str
    policy: Policy
    text: str
    warnings: tuple[str, ...] = ()


def policy_host(domain: str) -> str:
    return "mta-sts." + domain


def policy_url(domain: str) -> str:
    return f"https://{policy_host(domain)}{WELL_KNOWN_PATH}"


def make_ssl_context(
    ca_files: Sequence[str | PathLike[str]] = (), *, system_cas: bool = True
) -> ssl.SSLContext:
    """PKIX verification (RFC 8461 §3.3) against system CAs and extra CA files, TLS >= 1.2."""
    # Both context kinds verify the chain and the host name (check_hostname, CERT_REQUIRED).
    if system_cas:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    for path in ca_files:
        ctx.load_verify_locations(cafile=path)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


async def fetch_policy(
    resolver: Resolver,
    domain: str,
    *,
    ssl_context: ssl.SSLContext | None = None,
    port: int = 443,
    timeout: float = DEFAULT_TIMEOUT,
    logger: logging.Logger | None = None,
    addresses: AddressPolicy = PUBLIC_ONLY,
) -> FetchResult:
    """GET ``https://mta-sts.<domain>/.well-known/mta-sts.txt`` and parse it.

    ``domain`` must be in A-labels without trailing dot. The host is resolved
    with ``resolver`` (A and AAAA) and each address is tried in turn within
    ``timeout`` seconds in total. Redirects are not followed (RFC 8461 §3.3).
    Addresses that ``addresses`` refuses (loopback, private, ...: postel.netpolicy)
    are not connected to; a host with no other address is a PolicyFetchError.

    Raises NoPolicy (host not found, 404), PolicyFetchError (other failures,
    sts-webpki-invalid for certificate errors) or PolicySyntaxError (bad or
    larger than 64 KiB).
    """
    log = logger or _log
    host = policy_host(domain)
    url = policy_url(domain)
    ctx = ssl_context or make_ssl_context()
    try:
        async with asyncio.timeout(timeout):
            ips = _permitted(await _resolve(resolver, host, url), addresses, host, url, log)
            for n, ip in enumerate(ips, start=1):
                try:
                    # An address that does not answer must leave time for the next one.
                    connect_timeout = CONNECT_TIMEOUT if n < len(ips) else None
                    reader, writer = await _connect(ip, port, host, ctx, url, connect_timeout)
                except (OSError, TimeoutError) as e:
                    # What went wrong, not the socket error's text (docs/server-side-requests.md).
                    problem = f"could not connect to {ip} port {port}: {connect_problem(e)}"
                    if n == len(ips):
                        raise PolicyFetchError(problem, url=url) from None
                    log.debug("policy fetch: %s, trying the next address", problem)
                    continue
                head, body = await _exchange(reader, writer, ip, host, url)
                return _result(head, body, url, ip, log)
            raise AssertionError("_resolve returns at least one address")
    except TimeoutError:
        raise PolicyFetchError(f"timed out after {timeout:g} s", url=url) from None


async def _resolve(resolver: Resolver, host: str, url: str) -> list[str]:
    """Addresses of the policy host; NoPolicy when it has none (RFC 8461 §3.3)."""
    answers = await asyncio.gather(resolver.aaaa(host), resolver.a(host), return_exceptions=True)
    ips: list[str] = []
    failures: list[BaseException] = []
    for answer in answers:
        if isinstance(answer, BaseException):
            if not isinstance(answer, DNSError):
                raise answer
            failures.append(answer)
        else:
            ips.extend(rd.to_text() for rd in answer.records)
    if ips:
        return ips
    if all(isinstance(f, NotFound) for f in failures):
        raise NoPolicy(f"policy host {host} not found")
    problem = next(f for f in failures if not isinstance(f, NotFound))
    what = "DNSSEC validation failed" if isinstance(problem, BogusError) else "DNS lookup failed"
    raise PolicyFetchError(f"resolving {host}: {what}: {problem}", url=url)


def _permitted(
    ips: list[str], addresses: AddressPolicy, host: str, url: str, log: logging.Logger
) -> list[str]:
    """The addresses that may be connected to; PolicyFetchError when none may."""
    permitted, refused = addresses.split(ips)
    for ip, why in refused:
        log.info(
            "mta-sts policy host address refused", extra={"host": host, "ip": ip, "reason": why}
        )
    if not permitted:
        ip, why = refused[0]
        raise PolicyFetchError(
            f"policy host {host} resolves only to internal addresses ({ip} is {why}), not fetched",
            url=url,
        )
    return permitted


def connect_problem(exc: BaseException) -> str:
    """A short description of a failed connection attempt, for people."""
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, OSError) and exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return "unreachable"
    return "connection failed"


async def _connect(
    ip: str, port: int, host: str, ctx: ssl.SSLContext, url: str, timeout: float | None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """TCP connection and TLS handshake with SNI ``host``; PKIX failures are sts-webpki-invalid."""
    try:
        async with asyncio.timeout(timeout):
            return await asyncio.open_connection(
                ip, port, ssl=ctx, server_hostname=host, limit=_HEAD_LIMIT
            )
    except ssl.SSLCertVerificationError as e:
        raise PolicyFetchError(
            f"certificate of {ip} not valid for {host}: {e.verify_message or e.reason}",
            url=url,
            result_type=RESULT_WEBPKI_INVALID,
        ) from None
    except ssl.SSLError as e:
        raise PolicyFetchError(
            f"TLS handshake with {ip} failed: {e.reason or e}", url=url
        ) from None


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, ip: str, host: str, url: str
) -> tuple[ResponseHead, bytes]:
    """Send the GET and read the response; the body only for status 200."""
    try:
        writer.write(build_request(host, WELL_KNOWN_PATH, _USER_AGENT))
        await writer.drain()
        head = parse_response_head(await _read_head(reader, url), url)
        if head.status != 200:
            return head, b""
        return head, await _read_body(reader, head, url)
    except ssl.SSLError as e:
        raise PolicyFetchError(f"TLS error from {ip}: {e.reason or e}", url=url) from None
    except (ConnectionError, asyncio.IncompleteReadError):
        raise PolicyFetchError(f"connection to {ip} lost", url=url) from None
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(writer.wait_closed(), 2)


async def _read_head(reader: asyncio.StreamReader, url: str) -> bytes:
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError:
        raise PolicyFetchError(f"HTTP response head over {_HEAD_LIMIT} bytes", url=url) from None


async def _read_body(reader: asyncio.StreamReader, head: ResponseHead, url: str) -> bytes:
    """The body, at most MAX_POLICY_SIZE bytes (RFC 8461 §3.3: larger is a syntax error)."""
    too_big = PolicySyntaxError(f"policy larger than {MAX_POLICY_SIZE} bytes")
    if is_chunked(head):
        return await _read_chunked(reader, url, too_big)
    length = content_length(head, url)
    if length is not None:
        if length > MAX_POLICY_SIZE:
            raise too_big
        return await reader.readexactly(length)
    body = await reader.read(MAX_POLICY_SIZE + 1)
    while body and len(body) <= MAX_POLICY_SIZE:
        more = await reader.read(MAX_POLICY_SIZE + 1 - len(body))
        if not more:
            break
        body += more
    if len(body) > MAX_POLICY_SIZE:
        raise too_big
    return body


async def _read_chunked(
    reader: asyncio.StreamReader, url: str, too_big: PolicySyntaxError
) -> bytes:
    """Decode chunked transfer coding (RFC 9112 §7.1), ignoring extensions and trailers."""
    body = b""
    while True:
        size_line = (await reader.readuntil(b"\r\n"))[:-2]
        size_text = size_line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise PolicyFetchError(f"bad chunk size {size_text[:20]!r}", url=url) from None
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass  # trailer fields
            return body
        if len(body) + size > MAX_POLICY_SIZE:
            raise too_big
        body += await reader.readexactly(size)
        if await reader.readexactly(2) != b"\r\n":
            raise PolicyFetchError("chunk not terminated by CRLF", url=url)


def _result(head: ResponseHead, body: bytes, url: str, ip: str, log: logging.Logger) -> FetchResult:
    if head.status == 404:
        raise NoPolicy(f"{url}: HTTP 404, no policy served")
    if 300 <= head.status < 400:
        target = head.get("location") or "nowhere"
        raise PolicyFetchError(
            f"HTTP {head.status} redirect to {target} not followed (RFC 8461 §3.3)", url=url
        )
    if head.status != 200:
        raise PolicyFetchError(f"HTTP status {head.status} {head.reason}".rstrip(), url=url)
    warnings: list[str] = []
    mtype = media_type(head)
    if mtype != "text/plain":
        # RFC 8461 §3.3 requires text/plain; accepted, but noted.
        warnings.append(f"Content-Type is {mtype or 'missing'}, expected text/plain")
    policy = parse_policy(body)
    text = body.decode("utf-8")
    for w in warnings:
        log.warning("mta-sts policy: %s", w, extra={"url": url, "ip": ip})
    log.debug("mta-sts policy fetched", extra={"url": url, "ip": ip, "mode": policy.mode.value})
    return FetchResult(url=url, ip=ip, policy=policy, text=text, warnings=tuple(warnings))
