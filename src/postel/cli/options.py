"""Options shared by several commands."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from postel.config import Config

F = TypeVar("F", bound=Callable[..., Any])


def default_config_dir() -> Path:
    return Path(os.environ.get("POSTEL_CONFIG", "config"))


def config_option(func: F) -> F:
    return click.option(
        "--config",
        "config_dir",
        type=click.Path(path_type=Path, file_okay=False),
        default=default_config_dir,
        show_default="$POSTEL_CONFIG or ./config",
        help="Directory with postel.toml and domains.toml.",
    )(func)


def missing_config(config_dir: Path) -> str | None:
    """One line for a configuration that is not there at all, else None."""
    from postel.config.load import STATIC_FILE

    todo = "create one with `postel quickstart`, or name yours with --config DIR or $POSTEL_CONFIG"
    if not config_dir.is_dir():
        return f"{config_dir.absolute()}: no such configuration directory; {todo}"
    if not (config_dir / STATIC_FILE).exists():
        return f"{config_dir.absolute()}: no {STATIC_FILE} in this directory; {todo}"
    return None


def load_or_exit(config_dir: Path) -> Config:
    """Load the configuration, or print every problem and exit 1."""
    from postel.config import ConfigError, load_config

    missing = missing_config(config_dir)
    if missing is not None:
        click.echo(f"error: {missing}", err=True)
        raise SystemExit(1)
    try:
        return load_config(config_dir)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(f"error: {problem}", err=True)
        raise SystemExit(1) from None
