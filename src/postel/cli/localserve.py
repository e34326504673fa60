"""`postel localserve`: a local instance on loopback for trying postel."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click


@click.command(name="localserve")
@click.option(
    "--dir",
    "base",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("local"),
    show_default=True,
    help="Directory for the local instance's config/ and data/.",
)
@click.option("--ip", default="127.0.0.1", show_default=True, help="Loopback address to use.")
def command(base: Path, ip: str) -> None:
    """Run a ready instance on loopback (account you@postel.localhost)."""
    import ipaddress

    from postel import log
    from postel.config import ConfigError, load_config
    from postel.localserve import ensure_local_config, instructions
    from postel.server import Running, run

    if not ipaddress.ip_address(ip).is_loopback:
        raise click.ClickException(f"{ip} is not a loopback address")
    info = ensure_local_config(base, ip)
    try:
        cfg = load_config(info.config_dir)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    log.configure(cfg.static.log.level, cfg.static.log.packages)

    def ready(running: Running) -> None:
        click.echo(instructions(running.bound))

    try:
        asyncio.run(run(cfg, ready=ready, check_dns=False))
    except KeyboardInterrupt:
        pass
    click.echo("postel localserve stopped.")
