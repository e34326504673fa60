"""`postel systemd-unit`: the packaged systemd unit, for this installation."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from postel.cli.common import fail
from postel.cli.options import config_option, load_or_exit


def this_executable() -> Path:
    """The `postel` script next to this interpreter (a venv's bin/), else the
    command as it was started."""
    beside = Path(sys.executable).parent / "postel"
    return beside if beside.is_file() else Path(sys.argv[0]).resolve()


@click.command(name="systemd-unit")
@config_option
def command(config_dir: Path) -> None:
    """Print the systemd unit for this installation and configuration.

    Install it with: postel systemd-unit --config DIR >
    /etc/systemd/system/postel.service (docs/install.md)."""
    from postel.systemdunit import UnitPathError, render, shipped_unit

    cfg = load_or_exit(config_dir)
    config = cfg.dir.resolve()
    try:
        text = render(
            shipped_unit(),
            executable=this_executable(),
            config_dir=config,
            writable=[config, cfg.datadir.root.resolve()],
        )
    except UnitPathError as exc:
        fail(str(exc))
    click.echo(text, nl=False)
