"""`postel verifydata DATADIR [--fix]`: check a data directory (docs/data-safety.md)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command(name="verifydata")
@click.argument("datadir", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--fix", is_flag=True, help="Move files no database knows to DATADIR/moved-aside/.")
@click.option(
    "--migrate",
    is_flag=True,
    help="Open every database read-write first so its migrations run (as an upgrade does).",
)
@click.option("-v", "--verbose", is_flag=True, help="Also print notes (versions, migrations).")
def command(datadir: Path, fix: bool, migrate: bool, verbose: bool) -> None:
    """Check every database, record, message file and account invariant under DATADIR.

    Read-only unless --fix or --migrate. Prints "DATADIR: OK", or every problem
    found and exits 1.
    """
    from postel.verifydata import VerifyError, verify

    try:
        result = verify(datadir, fix=fix, do_migrate=migrate)
    except VerifyError as exc:
        raise click.ClickException(str(exc)) from None
    if verbose:
        for note in result.notes:
            click.echo(f"note: {note}", err=True)
    for fixed in result.fixed:
        click.echo(f"fixed: {fixed}")
    for problem in result.problems:
        click.echo(problem)
    if result.problems:
        click.echo(
            f"{datadir}: {len(result.problems)} problem(s) in {result.databases} databases "
            f"and {result.message_files} message files",
            err=True,
        )
        raise SystemExit(1)
    click.echo(f"{datadir}: OK")
