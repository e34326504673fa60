"""`postel config`: describe the files, test a configuration."""

from __future__ import annotations

from pathlib import Path

import click

from postel.cli.options import config_option, load_or_exit


@click.group(name="config")
def command() -> None:
    """Inspect and check configuration files."""


@command.command()
@click.argument("which", type=click.Choice(["static", "domains"]), default="static")
def describe(which: str) -> None:
    """Print every setting with its documentation and default."""
    from postel.config.describe import describe as render
    from postel.config.domains import DomainsConfig
    from postel.config.model import StaticConfig

    if which == "static":
        click.echo("# postel.toml: static configuration\n")
        click.echo(render(StaticConfig))
    else:
        click.echo("# domains.toml: domains, accounts, aliases\n")
        click.echo(render(DomainsConfig))


@command.command()
@config_option
def test(config_dir: Path) -> None:
    """Check both files; print every problem with file, line and field."""
    cfg = load_or_exit(config_dir)
    click.echo(
        f"{cfg.dir}: OK ({len(cfg.domains.domains)} domains, "
        f"{len(cfg.domains.accounts)} accounts, {len(cfg.static.listeners)} listeners)"
    )
