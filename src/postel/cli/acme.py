"""`postel acme`: ACME certificates and DANE key rollover (postel.acme)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from postel.cli.options import config_option

if TYPE_CHECKING:
    from postel.acme.storage import CertStore


@click.group(name="acme")
def command() -> None:
    """ACME certificates and host keys."""


def _store(config_dir: Path) -> CertStore:
    from postel.acme.storage import CertStore
    from postel.config import ConfigError, load_config

    try:
        cfg = load_config(config_dir)
    except ConfigError as exc:
        click.echo(f"postel acme: {exc}", err=True)
        sys.exit(1)
    if not cfg.static.acme.enabled:
        click.echo(f"postel acme: [acme] is not enabled in {config_dir / 'postel.toml'}", err=True)
        sys.exit(1)
    return CertStore(cfg.datadir.root)


@command.command(name="status")
@config_option
def status_command(config_dir: Path) -> None:
    """The host keys, their certificates, a waiting rollover and the renewal plan."""
    import datetime as dt

    from postel.acme.status import describe, view

    store = _store(config_dir)
    for line in describe(view(store, dt.datetime.now(dt.UTC))):
        click.echo(line)


@command.command(name="rollover")
@config_option
@click.option("--key", "kinds", type=click.Choice(["ecdsa", "rsa"]), multiple=True, required=True)
def rollover_command(config_dir: Path, kinds: tuple[str, ...]) -> None:
    """Make the next host key; postel switches to it once its TLSA record is
    published (RFC 7671 §8.1)."""
    from postel.acme.storage import spki_sha256

    store = _store(config_dir)
    for kind in kinds:
        made = store.start_rollover(kind)
        digest = spki_sha256(store.next_key(kind))
        click.echo(
            f"{kind}: {'next key made' if made else 'a next key waits already'}; publish "
            f"TLSA 3 1 1 {digest} beside the current record(s)"
        )
