"""`postel dns ...`: check the resolver, look up records."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import click

from postel.cli.resolveropts import choose_resolver, config_for_resolver
from postel.dns.check import DEFAULT_BOGUS_PROBE, DEFAULT_PROBE, check_validating
from postel.dns.errors import BogusError, DNSError, NotFound, TemporaryError
from postel.dns.resolver import DNSResolver


@click.group(name="dns")
def command() -> None:
    """DNS lookups and resolver checks."""


_nameserver = click.option(
    "--nameserver",
    "nameservers",
    multiple=True,
    metavar="IP",
    help="Resolver to ask (repeatable); default: [dns] of --config, else /etc/resolv.conf.",
)
_port = click.option(
    "--port", type=int, default=None, help="Resolver port [default: [dns] port of --config, or 53]."
)
_timeout = click.option(
    "--timeout", default=5.0, show_default=True, help="Seconds per lookup in total."
)


@command.command(name="check-resolver")
@config_for_resolver
@_nameserver
@_port
@_timeout
@click.option("--probe", default=DEFAULT_PROBE, show_default=True, help="Signed name to ask.")
@click.option("--probe-type", default="SOA", show_default=True)
@click.option(
    "--bogus-probe",
    default=DEFAULT_BOGUS_PROBE,
    show_default=True,
    help="Name with broken DNSSEC that must be refused; '' to skip.",
)
@click.option("--bogus-probe-type", default="A", show_default=True)
def check_resolver(
    config_dir: Path | None,
    nameservers: tuple[str, ...],
    port: int | None,
    timeout: float,
    probe: str,
    probe_type: str,
    bogus_probe: str,
    bogus_probe_type: str,
) -> None:
    """Tell whether the resolver validates DNSSEC; exit 1 if it does not."""
    choice = choose_resolver(config_dir, nameservers, port)
    resolver = DNSResolver(choice.nameservers, port=choice.port, timeout=timeout)
    ok, message = asyncio.run(
        check_validating(resolver, probe, probe_type, bogus_probe or None, bogus_probe_type)
    )
    where = ", ".join(resolver.nameservers)
    if ok:
        click.echo(f"{where}: {message}")
        return
    click.echo(f"{where}: {message}", err=True)
    sys.exit(1)


@command.command(name="lookup")
@config_for_resolver
@_nameserver
@_port
@_timeout
@click.argument("name")
@click.argument("rdtype", default="A")
def lookup(
    config_dir: Path | None,
    nameservers: tuple[str, ...],
    port: int | None,
    timeout: float,
    name: str,
    rdtype: str,
) -> None:
    """Look up NAME RDTYPE and print the answer as JSON (exit 1 on errors)."""
    choice = choose_resolver(config_dir, nameservers, port)
    resolver = DNSResolver(choice.nameservers, port=choice.port, timeout=timeout)
    try:
        answer = asyncio.run(resolver.lookup(name, rdtype))
    except ValueError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(1)
    except DNSError as e:
        out: dict[str, object] = {"error": type(e).__name__, "message": str(e)}
        if isinstance(e, NotFound):
            out.update(nxdomain=e.nxdomain, authentic=e.authentic)
        if isinstance(e, BogusError | TemporaryError):
            out.update(ede_code=e.ede_code, ede_text=e.ede_text)
        click.echo(json.dumps(out, indent=2))
        sys.exit(1)
    click.echo(
        json.dumps(
            {
                "qname": answer.qname,
                "name": answer.name,
                "rdtype": answer.rdtype,
                "authentic": answer.authentic,
                "cname_chain": answer.cname_chain,
                "records": answer.to_texts(),
            },
            indent=2,
        )
    )
