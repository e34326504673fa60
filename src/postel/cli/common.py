"""Error exit and bounded file input shared by the commands."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, Protocol

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


class _Parsed(Protocol):
    warnings: list[str]

    @property
    def report(self) -> _JSONable: ...


class _JSONable(Protocol):
    def to_json(self) -> str: ...


def print_parsed(
    path: Path,
    parse: Callable[[bytes], _Parsed],
    errors: type[Exception],
    limit: int,
) -> None:
    """Parse a report file and print it as normalised JSON, warnings on stderr.

    Bad input: ``error: <file>: <what and where>`` on stderr and exit 1.
    """
    data = read_bounded(path, limit)
    try:
        result = parse(data)
    except errors as e:
        fail(f"{path}: {e}")
    for w in result.warnings:
        click.echo(f"warning: {path}: {w}", err=True)
    click.echo(result.report.to_json())
