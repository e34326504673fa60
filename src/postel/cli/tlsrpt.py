"""`postel tlsrpt`: parse TLS reports and look up TLSRPT records (RFC 8460)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import NoReturn

import click

from postel.tlsrpt.errors import TLSRPTError
from postel.tlsrpt.parse import DEFAULT_LIMITS, parse_report


@click.group(name="tlsrpt")
def command() -> None:
    """SMTP TLS reports (RFC 8460)."""


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    raise SystemExit(1)


def _read_bounded(path: Path, limit: int) -> bytes:
    try:
        with path.open("rb") as f:
            data = f.read(limit + 1)
    except OSError as e:
        _fail(f"{path}: cannot read: {e.strerror or e}")
    if len(data) > limit:
        _fail(f"{path}: larger than {limit} bytes")
    return data


@command.command(name="parse")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path, allow_dash=False))
@click.option("--strict", is_flag=True, help="Reject deviations from RFC 8460 instead of warning.")
def parse_cmd(file: Path, strict: bool) -> None:
    """Parse a report (JSON, gzip or report e-mail) and print it as normalised JSON."""
    data = _read_bounded(file, DEFAULT_LIMITS.max_input_bytes)
    try:
        result = parse_report(data, strict=strict)
    except TLSRPTError as e:
        _fail(f"{file}: {e}")
    for w in result.warnings:
        click.echo(f"warning: {file}: {w}", err=True)
    click.echo(result.report.to_json())


@command.command(name="lookup")
@click.argument("domain")
@click.option("--nameserver", "nameservers", multiple=True, help="Resolver IP (repeatable).")
@click.option("--port", type=int, default=53, show_default=True, help="Resolver port.")
@click.option("--timeout", type=float, default=5.0, show_default=True, help="Seconds.")
def lookup_cmd(domain: str, nameservers: tuple[str, ...], port: int, timeout: float) -> None:
    """Look up and print DOMAIN's TLSRPT record (_smtp._tls TXT)."""
    from postel.dns import DNSError
    from postel.dns.resolver import DNSResolver
    from postel.tlsrpt.lookup import lookup_record

    resolver = DNSResolver(list(nameservers) or None, port=port, timeout=timeout)
    try:
        result = asyncio.run(lookup_record(resolver, domain))
    except TLSRPTError as e:
        _fail(f"_smtp._tls.{domain}: {e}")
    except DNSError as e:
        _fail(f"_smtp._tls.{domain}: DNS lookup failed: {e}")
    if result.record is None:
        _fail(f"{result.name}: no TLSRPT record")
    out = {
        "name": result.name,
        "record": result.text,
        "rua": result.record.rua,
        "extensions": dict(result.record.extensions),
        "dnssec": result.authentic,
    }
    click.echo(json.dumps(out, indent=2))
