"""`postel version`: the version and the commit this postel was built from."""

from __future__ import annotations

import click


@click.command(name="version")
def command() -> None:
    """Print the version and the commit postel was built from."""
    from postel.buildinfo import build_info

    click.echo(build_info().line())
