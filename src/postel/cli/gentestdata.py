"""`postel gentestdata DIR`: a small, complete config and data dir for tests."""

from __future__ import annotations

from pathlib import Path

import click


@click.command(name="gentestdata")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
def command(directory: Path) -> None:
    """Make DIR/config and DIR/data with test domains, accounts, messages, reports,
    an MTA-STS policy, TLS results and a queued message. DIR must not exist."""
    from postel.gentestdata import GenTestDataError, generate

    try:
        made = generate(directory)
    except GenTestDataError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"config: {made.config_dir}")
    click.echo(f"data:   {made.data_dir.resolve()}")
