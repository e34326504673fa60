"""Error exit and bounded file input shared by the commands."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import click


def fail(message: str) -> NoReturn:
    """Print ``error: <message>`` on stderr and exit 1."""
    click.echo(f"error: {message}", err=True)
    raise SystemExit(1)


def read_bounded(path: Path, limit: int) -> bytes:
    """The content of *path*; fail when it cannot be read or is over *limit* bytes."""
    try:
        with path.open("rb") as f:
            data = f.read(limit + 1)
    except OSError as e:
        fail(f"{path}: cannot read: {e.strerror or e}")
    if len(data) > limit:
        fail(f"{path}: larger than {limit} bytes")
    return data
