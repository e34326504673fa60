"""`postel mtasts`: parse MTA-STS records and policies, look up a domain's policy (RFC 8461)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import click

from postel.cli.common import fail, read_limited, shown
from postel.cli.resolveropts import choose_resolver, config_for_resolver
from postel.mtasts.errors import MTASTSError, NoRecord
from postel.mtasts.policy import MAX_POLICY_SIZE, parse_policy
from postel.mtasts.record import parse_record

_RECORD_LIMIT = 64 * 1024


@click.group(name="mtasts")
def command() -> None:
    """MTA-STS records and policies (RFC 8461)."""


def _echo_json(value: dict[str, Any]) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


@command.command(name="parse")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path, allow_dash=True))
@click.option(
    "--record",
    "is_record",
    is_flag=True,
    help="FILE holds an _mta-sts TXT record value instead of a policy.",
)
def parse_cmd(file: Path, is_record: bool) -> None:
    """Parse a policy file (or with --record a TXT record value); print normalised JSON.

    FILE ``-`` is standard input."""
    name = shown(file)
    if is_record:
        data = read_limited(file, _RECORD_LIMIT)
        if len(data) > _RECORD_LIMIT:
            fail(f"{name}: larger than {_RECORD_LIMIT} bytes")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            fail(f"{name}: invalid UTF-8 at byte {e.start}")
        # The file holds one value; a final line break is not part of it.
        text = text.removesuffix("\n").removesuffix("\r")
        try:
            _echo_json(parse_record(text).to_json())
        except MTASTSError as e:
            fail(f"{name}: {e}")
        return
    data = read_limited(file, MAX_POLICY_SIZE)
    if len(data) > MAX_POLICY_SIZE:
        # RFC 8461 §3.3: a policy over 64 KiB is a syntax error.
        fail(f"{name}: mta-sts policy larger than {MAX_POLICY_SIZE} bytes")
    try:
        _echo_json(parse_policy(data).to_json())
    except MTASTSError as e:
        fail(f"{name}: {e}")


@command.command(name="lookup")
@click.argument("domain")
@config_for_resolver
@click.option(
    "--nameserver",
    "nameservers",
    multiple=True,
    help="Resolver IP (repeatable); default: [dns] of --config, else the system's.",
)
@click.option(
    "--dns-port", type=int, default=None, help="Resolver port [default: [dns] of --config, or 53]."
)
@click.option(
    "--ca-file",
    "ca_files",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Extra trusted CA certificates (PEM), besides the system CAs and "
    "[tls] extra_ca_files of --config (repeatable).",
)
@click.option(
    "--https-port", type=int, default=443, show_default=True, help="Policy server port (tests)."
)
@click.option("--timeout", type=float, default=60.0, show_default=True, help="Seconds.")
@click.option(
    "--allow-internal",
    "allow_internal",
    multiple=True,
    metavar="NETWORK",
    help="A loopback, private or other internal network the policy host may resolve to "
    "(repeatable); by default, as in the server, such addresses are refused.",
)
def lookup_cmd(
    domain: str,
    config_dir: Path | None,
    nameservers: tuple[str, ...],
    dns_port: int | None,
    ca_files: tuple[Path, ...],
    https_port: int,
    timeout: float,
    allow_internal: tuple[str, ...],
) -> None:
    """Look up DOMAIN's MTA-STS record, fetch its policy and print both as JSON."""
    from postel.dns.resolver import DNSResolver
    from postel.mtasts.fetch import make_ssl_context
    from postel.mtasts.lookup import lookup
    from postel.netpolicy import AddressPolicy

    try:
        addresses = AddressPolicy.from_networks(allow_internal)
    except ValueError as e:
        fail(f"--allow-internal: {e}")
    choice = choose_resolver(config_dir, nameservers, dns_port)
    resolver = DNSResolver(choice.nameservers, port=choice.port)
    try:
        ctx = make_ssl_context([*choice.extra_ca_files, *ca_files])
    except (OSError, ValueError) as e:
        fail(f"loading CA files: {e}")
    try:
        result = asyncio.run(
            lookup(
                resolver,
                domain,
                ssl_context=ctx,
                port=https_port,
                timeout=timeout,
                addresses=addresses,
            )
        )
    except ValueError as e:
        fail(str(e))
    _echo_json(result.to_json())
    for w in result.warnings:
        click.echo(f"warning: {w}", err=True)
    if result.error is not None and not isinstance(result.error, NoRecord):
        fail(f"{result.domain}: {result.error}")
    if isinstance(result.error, NoRecord):
        click.echo(f"{result.domain}: no MTA-STS record", err=True)
