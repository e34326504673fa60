"""`postel verifydata [DATADIR] [--fix]`: check a data directory, or the
PostgreSQL store of a config with [storage] backend = "postgresql"
(docs/data-safety.md, docs/postgresql.md)."""

from __future__ import annotations

from pathlib import Path

import click

from postel.cli.options import config_option, load_or_exit


@click.command(name="verifydata")
@click.argument(
    "datadir", required=False, type=click.Path(path_type=Path, file_okay=False, exists=True)
)
@config_option
@click.option("--fix", is_flag=True, help="Move files no database knows to DATADIR/moved-aside/.")
@click.option(
    "--migrate",
    is_flag=True,
    help="Open every database read-write first so its migrations run (as an upgrade does).",
)
@click.option("-v", "--verbose", is_flag=True, help="Also print notes (versions, migrations).")
def command(
    datadir: Path | None, config_dir: Path, fix: bool, migrate: bool, verbose: bool
) -> None:
    """Check every database, record, message file and account invariant under DATADIR.

    Without DATADIR: the config's data directory, or with [storage] backend =
    "postgresql" the PostgreSQL store (UIDs, modseqs, counters, bodies' SHA-256
    and sizes, queued messages). Read-only unless --fix or --migrate. Prints
    "...: OK", or every problem found and exits 1.
    """
    from postel.verifydata import VerifyError, verify

    if datadir is None:
        cfg = load_or_exit(config_dir)
        if cfg.static.storage.backend == "postgresql":
            _verify_pg(config_dir)
            return
        datadir = cfg.datadir.root
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


def _verify_pg(config_dir: Path) -> None:
    from postel.pg.errors import PgError
    from postel.pg.verify import verify_store
    from postel.wiring import pg_objects, pg_settings

    cfg = load_or_exit(config_dir)
    try:
        objects = pg_objects(cfg.static.storage, cfg.dir)
        result = verify_store(pg_settings(cfg.static.storage, cfg.dir), objects)
    except PgError as exc:
        raise click.ClickException(str(exc)) from None
    for problem in result.problems:
        click.echo(problem)
    if result.problems:
        click.echo(result.summary(), err=True)
        raise SystemExit(1)
    click.echo(result.summary())
