"""The resolver of a command that asks DNS, as postel itself would ask.

``--nameserver`` when given; else the ``[dns]`` nameservers and port of
postel.toml in ``--config`` (default ``$POSTEL_CONFIG``, else ``./config``
when it has a postel.toml); else the system's resolvers (/etc/resolv.conf).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_PORT = 53


def config_for_resolver(func: F) -> F:
    return click.option(
        "--config",
        "config_dir",
        type=click.Path(path_type=Path, file_okay=False),
        default=None,
        help="Directory with postel.toml: ask the resolver its [dns] names, unless "
        "--nameserver is given [default: $POSTEL_CONFIG, else ./config if it has a "
        "postel.toml, else the system's resolvers].",
    )(func)


@dataclass(frozen=True)
class ResolverChoice:
    nameservers: list[str] | None  # None: the system's
    port: int
    # postel.toml [tls] extra_ca_files (absolute), for commands that fetch over HTTPS.
    extra_ca_files: list[Path] = field(default_factory=list)


def _config_dir(given: Path | None) -> Path | None:
    if given is not None:
        return given
    env = os.environ.get("POSTEL_CONFIG")
    if env:
        return Path(env)
    local = Path("config")
    return local if (local / "postel.toml").is_file() else None


def choose_resolver(
    config_dir: Path | None, nameservers: tuple[str, ...], port: int | None
) -> ResolverChoice:
    """The resolver to ask (see the module); exit 1 with one line per problem when
    the configuration named cannot be read."""
    from postel.cli.options import missing_config
    from postel.config import ConfigError
    from postel.config.load import load_static

    directory = None if nameservers else _config_dir(config_dir)
    if directory is None:
        return ResolverChoice(list(nameservers) or None, port or DEFAULT_PORT)
    missing = missing_config(directory)
    if missing is not None:
        click.echo(f"error: {missing}", err=True)
        raise SystemExit(1)
    try:
        static = load_static(directory)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(f"error: {problem}", err=True)
        raise SystemExit(1) from None
    base = directory.resolve()
    return ResolverChoice(
        static.dns.nameservers or None,
        port or static.dns.port,
        [base / p for p in static.tls.extra_ca_files],
    )
