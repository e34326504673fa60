"""The `postel` command.

Every module in this package that defines a module-level ``command``
(a click command or group) is added as a subcommand, so command groups
live in their own modules and need no central registration.
"""

from __future__ import annotations

import importlib
import pkgutil

import click

import postel
import postel.cli as cli_pkg


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(postel.__version__, prog_name="postel")
def cli() -> None:
    """postel: a secure, low-maintenance mail server for your own domains."""


def _register() -> None:
    for info in sorted(pkgutil.iter_modules(cli_pkg.__path__), key=lambda i: i.name):
        if info.name in ("main",) or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"postel.cli.{info.name}")
        command = getattr(module, "command", None)
        if isinstance(command, click.Command):
            cli.add_command(command)


_register()


def main() -> None:
    cli()
