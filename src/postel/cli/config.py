"""`postel config`: describe the files, test a configuration."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from postel.cli.options import config_option, load_or_exit

if TYPE_CHECKING:
    from postel.config.load import Config
    from postel.pg.settings import PgSettings


@click.group(name="config")
def command() -> None:
    """Inspect and check configuration files."""


@command.command()
@click.argument("which", type=click.Choice(["static", "domains"]), default="static")
def describe(which: str) -> None:
    """Print every setting with its documentation and default."""
    from postel.config.describe import describe as render
    from postel.config.domains import DomainsConfig
    from postel.config.model import StaticConfig

    if which == "static":
        click.echo("# postel.toml: static configuration\n")
        click.echo(render(StaticConfig))
    else:
        click.echo("# domains.toml: domains, accounts, aliases\n")
        click.echo(render(DomainsConfig))


@command.command()
@config_option
def test(config_dir: Path) -> None:
    """Check both files; print every problem with file, line and field, and the
    listeners' certificates: expired, not yet valid, a name missing (problems),
    expiring within 14 days (a warning)."""
    from postel.certcheck import check_listeners

    cfg = load_or_exit(config_dir)
    findings = check_listeners(cfg)
    for f in findings:
        click.echo(f"{'problem' if f.error else 'warning'}: {f.text}", err=True)
    if any(f.error for f in findings):
        sys.exit(1)
    if cfg.static.storage.backend == "postgresql":
        _check_postgresql(cfg)
    click.echo(
        f"{cfg.dir}: OK ({len(cfg.domains.domains)} domains, "
        f"{len(cfg.domains.accounts)} accounts, {len(cfg.static.listeners)} listeners)"
    )


def _pg_settings(cfg: Config) -> PgSettings:
    """[storage] as the PostgreSQL store's settings (password read from its file);
    a problem is one line and exit status 1."""
    from postel.pg.errors import PgSettingsError
    from postel.pg.settings import PgSettings, read_password

    st = cfg.static.storage
    try:
        password = read_password(cfg.path(st.password_file) if st.password_file else None)
        settings = PgSettings(
            dsn=st.dsn,
            password=password,
            pool_max=st.pool_size,
            connect_timeout=st.connect_timeout,
        )
        settings.conninfo()  # the DSN is checked once more, with the password added
    except PgSettingsError as exc:
        click.echo(f"problem: {exc}", err=True)
        sys.exit(1)
    return settings


def _check_postgresql(cfg: Config) -> None:
    import asyncio

    from postel.pg.check import check_store

    result = asyncio.run(check_store(_pg_settings(cfg)))
    if result.problem:
        click.echo(f"problem: {result.text}", err=True)
        sys.exit(1)
    click.echo(result.text)


@command.command(name="migrate-db")
@config_option
def migrate_db(config_dir: Path) -> None:
    """Create or migrate forward the PostgreSQL store's schema ([storage] backend =
    "postgresql"); safe while other nodes run or migrate (an advisory lock)."""
    import asyncio

    from postel.pg.check import migrate_store
    from postel.pg.errors import PgError

    cfg = load_or_exit(config_dir)
    if cfg.static.storage.backend != "postgresql":
        raise click.ClickException('[storage] backend is not "postgresql": nothing to migrate')
    try:
        before, after = asyncio.run(migrate_store(_pg_settings(cfg)))
    except PgError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"schema version {after} (was {before})")


@command.command()
@config_option
def reload(config_dir: Path) -> None:
    """Make the running server use domains.toml as it is now (after an edit by hand)."""
    from postel.control import ControlError, call, server_pid

    cfg = load_or_exit(config_dir)  # a broken file is reported here, line and field
    root = cfg.datadir.root
    if server_pid(root) is None:
        raise click.ClickException(f"{root}: no server runs on this data directory")
    try:
        result = call(root, "reload")
    except ControlError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"the running server uses {cfg.domains_file} now "
        f"({result.get('domains')} domains, {result.get('accounts')} accounts)"
    )
