"""`postel dane`: inspect TLSA records (RFC 7672)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import click

from postel.cli.resolveropts import choose_resolver, config_for_resolver
from postel.dane.allowed import normalize_name
from postel.dane.errors import DANEError
from postel.dane.lookup import TLSALookup, expand_host, lookup_tlsa
from postel.dane.record import policy_strings
from postel.dns import DNSError
from postel.dns.resolver import DNSResolver


@click.group(name="dane")
def command() -> None:
    """DANE TLSA records for SMTP servers."""


@command.command(name="lookup")
@click.argument("host")
@click.option("--port", default=25, show_default=True, type=click.IntRange(1, 65535))
@config_for_resolver
@click.option(
    "--nameserver",
    "nameservers",
    multiple=True,
    metavar="IP",
    help="Resolver to ask (repeatable); default: [dns] of --config, else the system's.",
)
@click.option(
    "--dns-port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Resolver port [default: [dns] port of --config, or 53].",
)
@click.option("--timeout", default=5.0, show_default=True, type=float, help="DNS timeout (s).")
def lookup_command(
    host: str,
    port: int,
    config_dir: Path | None,
    nameservers: tuple[str, ...],
    dns_port: int | None,
    timeout: float,
) -> None:
    """Look up the TLSA records of HOST and print them as JSON.

    Follows the host's CNAMEs for the TLSA base domain when the expansion is
    DNSSEC-authentic (RFC 7672 §2.2.3), and reports each record's usability
    and whether the answers were DNSSEC-authentic.
    """
    try:
        normalize_name(host)
    except DANEError as exc:
        click.echo(f"postel dane lookup: {exc}", err=True)
        sys.exit(1)
    choice = choose_resolver(config_dir, nameservers, dns_port)
    resolver = DNSResolver(nameservers=choice.nameservers, port=choice.port, timeout=timeout)
    try:
        output = asyncio.run(_lookup(resolver, host, port))
    except DNSError as exc:
        click.echo(f"postel dane lookup: {host}: DNS error: {type(exc).__name__}: {exc}", err=True)
        sys.exit(1)
    click.echo(json.dumps(output, indent=2))


async def _lookup(resolver: DNSResolver, host: str, port: int) -> dict[str, Any]:
    expansion = await expand_host(resolver, host)
    result = await lookup_tlsa(
        resolver,
        expansion.host,
        port,
        expanded=expansion.expanded,
        expanded_authentic=bool(expansion.authentic),
    )
    return lookup_json(result, host_authentic=expansion.authentic, expanded=expansion.expanded)


def lookup_json(
    result: TLSALookup, host_authentic: bool | None = None, expanded: str | None = None
) -> dict[str, Any]:
    """JSON form of a TLSA lookup."""
    return {
        "host": result.host,
        "port": result.port,
        "host_authentic": host_authentic,
        "expanded_host": expanded,
        "tlsa_base_domain": result.base_domain,
        "qname": result.qname,
        "tried": list(result.tried),
        "cname_chain": list(result.cname_chain),
        "authentic": result.authentic,
        "records": [
            {
                "text": r.text(),
                "usage": r.usage,
                "selector": r.selector,
                "mtype": r.mtype,
                "usable": r.usable,
                "unusable_reason": r.unusable_reason(),
            }
            for r in result.records
        ],
        "any_usable": any(r.usable for r in result.records),
        "policy_strings": policy_strings(result.records),
        # RFC 7672 §2.2: DANE applies only when the address and TLSA answers are authentic.
        "dane_applies": bool(host_authentic) and bool(result.authentic) and bool(result.records),
    }
