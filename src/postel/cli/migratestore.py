"""`postel migrate-store`: move accounts, mail, passwords and the outgoing queue
between a SQLite data directory and the PostgreSQL store (docs/postgresql.md)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from postel.cli.options import config_option, load_or_exit
from postel.pg.settings import PgSettings

if TYPE_CHECKING:
    from postel.pg.objectstore import ObjectStore


def _settings(config_dir: Path, dsn: str | None, password_file: Path | None) -> PgSettings:
    """--dsn (with --password-file), else the config's [storage] dsn."""
    from postel.pg.errors import PgSettingsError
    from postel.pg.settings import read_password

    try:
        if dsn:
            settings = PgSettings(
                dsn=dsn, password=read_password(password_file, where="--password-file")
            )
        else:
            cfg = load_or_exit(config_dir)
            if not cfg.static.storage.dsn:
                raise click.ClickException(
                    f"{cfg.dir}: [storage] has no dsn; name the database with --dsn"
                )
            from postel.wiring import pg_settings

            settings = pg_settings(cfg.static.storage, cfg.dir)
        settings.conninfo()
    except PgSettingsError as exc:
        raise click.ClickException(str(exc)) from None
    return settings


def _objects(config_dir: Path, dsn: str | None) -> ObjectStore | None:
    """The config's object store of bodies (none with --dsn: another database)."""
    if dsn:
        return None
    from postel.wiring import pg_objects

    cfg = load_or_exit(config_dir)
    return pg_objects(cfg.static.storage, cfg.dir)


def _say(line: str) -> None:
    click.echo(line, err=True)


@click.group(name="migrate-store")
def command() -> None:
    """Copy a SQLite data directory into PostgreSQL, or PostgreSQL into a new
    SQLite data directory. Stop `postel serve` first: a copy is of one moment."""


@command.command(name="to-postgresql")
@config_option
@click.option(
    "--datadir",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="The SQLite data directory to copy (default: the config's data_dir).",
)
@click.option("--dsn", help="The database (default: the config's [storage] dsn).")
@click.option(
    "--password-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="File whose first line is the database password (with --dsn).",
)
@click.option(
    "--replace",
    is_flag=True,
    help="Empty the database's accounts, passwords and queue first (else a database "
    "holding any is refused).",
)
def to_postgresql(
    config_dir: Path,
    datadir: Path | None,
    dsn: str | None,
    password_file: Path | None,
    replace: bool,
) -> None:
    """Copy accounts, passwords, mailboxes, messages (UIDs, flags, modseqs) and the
    outgoing queue of a SQLite data directory into PostgreSQL, in one transaction.
    Lists what is not copied, one line each."""
    from postel.control import server_pid
    from postel.datadir import DataDir
    from postel.errors import PostelError
    from postel.pg.copytopg import sqlite_to_pg

    if datadir is None:
        datadir = load_or_exit(config_dir).datadir.root
    datadir = datadir.resolve()  # messages name files without "../"
    settings = _settings(config_dir, dsn, password_file)
    if server_pid(datadir) is not None:
        raise click.ClickException(f"{datadir}: a server runs on it; stop it before copying")
    try:
        report = sqlite_to_pg(DataDir(datadir), settings, replace=replace, say=_say)
    except PostelError as exc:
        raise click.ClickException(str(exc)) from None
    for line in report.not_copied:
        click.echo(line)
    click.echo(report.line(f"{datadir} -> PostgreSQL {settings.where}"))


@command.command(name="to-sqlite")
@click.argument("newdatadir", type=click.Path(path_type=Path, file_okay=False))
@config_option
@click.option("--dsn", help="The database (default: the config's [storage] dsn).")
@click.option(
    "--password-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="File whose first line is the database password (with --dsn).",
)
def to_sqlite(
    newdatadir: Path, config_dir: Path, dsn: str | None, password_file: Path | None
) -> None:
    """Copy the PostgreSQL store into NEWDATADIR (new or empty), read in one
    snapshot: accounts, passwords, mailboxes, messages and the outgoing queue."""
    from postel.errors import PostelError
    from postel.pg.copytosqlite import copy_to_sqlite

    settings = _settings(config_dir, dsn, password_file)
    try:
        report = copy_to_sqlite(settings, newdatadir, say=_say, objects=_objects(config_dir, dsn))
    except PostelError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(report.line(f"PostgreSQL {settings.where} -> {newdatadir}"))
