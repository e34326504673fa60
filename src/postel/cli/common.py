"""Error exit and bounded file input shared by the commands."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn, Protocol

import click


def fail(message: str) -> NoReturn:
    """Print ``error: <message>`` on stderr and exit 1."""
    click.echo(f"error: {message}", err=True)
    raise SystemExit(1)


@contextmanager
def pg_errors_fail() -> Iterator[None]:
    """A PostgreSQL store's error (no connection, a failed query) as one line
    on stderr, exit 1; never a traceback."""
    from postel.pg.errors import PgError

    try:
        yield
    except PgError as exc:
        fail(str(exc))


STDIN = Path("-")


def shown(path: Path) -> str:
    """*path* as messages name it; ``-`` is standard input."""
    return "<stdin>" if path == STDIN else str(path)


def read_limited(path: Path, limit: int) -> bytes:
    """At most *limit* + 1 bytes of *path* (``-``: standard input), so that a caller
    sees when there was more; fail when it cannot be read."""
    try:
        if path == STDIN:
            return sys.stdin.buffer.read(limit + 1)
        with path.open("rb") as f:
            return f.read(limit + 1)
    except OSError as e:
        fail(f"{shown(path)}: cannot read: {e.strerror or e}")


def read_bounded(path: Path, limit: int) -> bytes:
    """The content of *path* (``-``: standard input); fail when it cannot be read or
    is over *limit* bytes."""
    data = read_limited(path, limit)
    if len(data) > limit:
        fail(f"{shown(path)}: larger than {limit} bytes")
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
        fail(f"{shown(path)}: {e}")
    for w in result.warnings:
        click.echo(f"warning: {shown(path)}: {w}", err=True)
    click.echo(result.report.to_json())
