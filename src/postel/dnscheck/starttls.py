"""A minimal STARTTLS probe of one MX host (RFC 3207): banner, EHLO, STARTTLS, handshake.

The handshake verifies the certificate (PKIX, host name) with the given
context; a verification failure is reported as a certificate problem, other
failures as connection problems.
"""

from __future__ import annotations

import asyncio
import ssl

from postel.dnscheck.model import Probe

MAX_LINE = 4096


async def _reply(reader: asyncio.StreamReader) -> tuple[int, list[str]]:
    lines: list[str] = []
    while True:
        raw = await reader.readline()
        if not raw:
            raise ConnectionError("connection closed by the server")
        if len(raw) > MAX_LINE:
            raise ConnectionError("reply line too long")
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        if len(line) < 3 or not line[:3].isdigit():
            raise ConnectionError(f"malformed reply {line[:60]!r}")
        lines.append(line[4:])
        if len(line) == 3 or line[3] == " ":
            return int(line[:3]), lines


async def probe(
    host: str,
    ip: str,
    port: int,
    *,
    verify_context: ssl.SSLContext,
    helo: str,
    timeout: float = 10.0,
) -> Probe:
    """Connect to *ip*:*port*, do STARTTLS with SNI *host*, check the certificate."""
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(ip, port)
            code, _ = await _reply(reader)
            if code != 220:
                return Probe(host, ip, error=f"greeting {code} instead of 220")
            writer.write(f"EHLO {helo}\r\n".encode())
            await writer.drain()
            code, lines = await _reply(reader)
            if code != 250:
                return Probe(host, ip, error=f"EHLO answered {code}")
            if not any(ln.split(" ")[0].upper() == "STARTTLS" for ln in lines[1:]):
                return Probe(host, ip, error="STARTTLS is not offered")
            writer.write(b"STARTTLS\r\n")
            await writer.drain()
            code, lines = await _reply(reader)
            if code != 220:
                return Probe(host, ip, error=f"STARTTLS answered {code} {' '.join(lines)}")
            try:
                await writer.start_tls(verify_context, server_hostname=host)
            except ssl.SSLCertVerificationError as exc:
                return Probe(host, ip, starttls=True, cert_error=exc.verify_message or str(exc))
            except ssl.SSLError as exc:
                return Probe(host, ip, error=f"TLS handshake failed: {exc.reason or exc}")
            try:
                writer.write(b"QUIT\r\n")
                await writer.drain()
                await _reply(reader)
            except (ConnectionError, OSError):
                pass
            return Probe(host, ip, starttls=True)
    except TimeoutError:
        return Probe(host, ip, error=f"no answer within {timeout:g} s")
    except (OSError, ConnectionError) as exc:
        return Probe(host, ip, error=f"connecting to port {port}: {exc}")
    finally:
        if writer is not None:
            writer.close()
