"""Telling the running server (if any) about a change the CLI made."""

from __future__ import annotations

from pathlib import Path

import click


def tell_server(root: Path, command: str, done: str) -> None:
    """Send *command* over the control socket of the server running on data
    directory *root*; says so on stdout, or one warning line on stderr."""
    from postel.control import ControlError, call, server_pid

    pid = server_pid(root)
    if pid is None:
        return  # no server runs: the files are all there is
    who = f"pid {pid}" if pid > 0 else "running"
    try:
        call(root, command)
    except ControlError as exc:
        click.echo(
            f"warning: the running server ({who}) did not take the change: {exc}; "
            "restart it to use the change",
            err=True,
        )
        return
    click.echo(f"the running server ({who}) {done}")
