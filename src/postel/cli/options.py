"""Options shared by several commands."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

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


def load_or_exit(config_dir: Path) -> Any:
    """Load the configuration, or print every problem and exit 1."""
    from postel.config import ConfigError, load_config

    try:
        return load_config(config_dir)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(f"error: {problem}", err=True)
        raise SystemExit(1) from None
