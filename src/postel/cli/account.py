"""`postel account`: add, list, change the password of, and remove accounts."""

from __future__ import annotations

import json
import os
import secrets
import sys
import tomllib
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TypeVar

import click

from postel.cli.common import fail
from postel.cli.live import tell_server
from postel.config.errors import ConfigError
from postel.datadir import DataDir
from postel.wiring import CLIRoot

if TYPE_CHECKING:
    from postel.config.domains import DomainsConfig
    from postel.config.model import StaticConfig
    from postel.pg.settings import PgSettings

F = TypeVar("F", bound=Callable[..., object])
T = TypeVar("T")

DOMAINS_FILE = "domains.toml"
STATIC_FILE = "postel.toml"
GENERATED_PASSWORD_BYTES = 18  # 24 characters of base64url
MIN_PASSWORD_LENGTH = 8


def _config_option(func: F) -> F:
    return click.option(
        "--config",
        "config_dir",
        type=click.Path(path_type=Path, file_okay=False),
        default=lambda: Path(os.environ.get("POSTEL_CONFIG", "config")),
        show_default="$POSTEL_CONFIG or ./config",
        help="Directory with postel.toml and domains.toml.",
    )(func)


def _password_options(func: F) -> F:
    func = click.option(
        "--generate", is_flag=True, help="Generate a random password and print it."
    )(func)
    return click.option(
        "--password-file",
        type=click.Path(path_type=Path, dir_okay=False, allow_dash=True),
        help="Read the password from the first line of this file ('-': stdin).",
    )(func)


def _fail_config(exc: ConfigError) -> NoReturn:
    for problem in exc.problems:
        click.echo(f"error: {problem}", err=True)
    raise SystemExit(1)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        fail(f"{path}: file not found")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"{path}: cannot read: {exc}")


def _static(config_dir: Path) -> StaticConfig:
    """postel.toml checked on its own (the accounts may not be complete yet)."""
    from pydantic import ValidationError

    from postel.config.model import StaticConfig

    path = config_dir / STATIC_FILE
    text = _read_text(path)
    try:
        return StaticConfig.model_validate(tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        fail(f"{path}: TOML syntax error: {exc}")
    except ValidationError as exc:
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"])
            click.echo(f"error: {path}: {field}: {err['msg']}", err=True)
        raise SystemExit(1) from None


def _datadir(config_dir: Path, static: StaticConfig) -> DataDir:
    data = Path(static.data_dir)
    return DataDir(data if data.is_absolute() else config_dir.resolve() / data)


def _domains(config_dir: Path) -> tuple[Path, str, DomainsConfig]:
    from postel.store.accountsfile import validate_domains

    path = config_dir / DOMAINS_FILE
    text = _read_text(path)
    try:
        return path, text, validate_domains(text, str(path))
    except ConfigError as exc:
        _fail_config(exc)


def _write_domains(path: Path, text: str) -> None:
    from postel.fsutil import write_atomic

    mode = path.stat().st_mode & 0o777 if path.exists() else 0o600
    write_atomic(path, text.encode("utf-8"), mode=mode)


def _get_password(password_file: Path | None, generate: bool) -> tuple[str, bool]:
    """(password, generated)."""
    if password_file is not None and generate:
        fail("give either --password-file or --generate, not both")
    if password_file is not None:
        if str(password_file) == "-":
            text = sys.stdin.readline()
        else:
            text = _read_text(password_file)
        password = text.splitlines()[0] if text.splitlines() else ""
        if len(password) < MIN_PASSWORD_LENGTH:
            fail(f"{password_file}: password shorter than {MIN_PASSWORD_LENGTH} characters")
        return password, False
    if generate or not sys.stdin.isatty():
        return secrets.token_urlsafe(GENERATED_PASSWORD_BYTES), True
    while True:
        password = str(click.prompt("Password", hide_input=True, confirmation_prompt=True))
        if len(password) >= MIN_PASSWORD_LENGTH:
            return password, False
        click.echo(f"The password must have at least {MIN_PASSWORD_LENGTH} characters.", err=True)


def _pg(static: StaticConfig, config_dir: Path) -> PgSettings | None:
    """The PostgreSQL store's settings when [storage] backend = "postgresql"
    (accounts and passwords are then in the database all nodes share)."""
    if static.storage.backend != "postgresql":
        return None
    from postel.pg.errors import PgError
    from postel.wiring import pg_settings

    try:
        return pg_settings(static.storage, config_dir)
    except PgError as exc:
        fail(str(exc))


def _on_pg(what: Coroutine[object, object, T]) -> T:
    """Run one command's work on the PostgreSQL store; a problem is one line."""
    import asyncio

    from postel.pg.errors import PgError
    from postel.store import StoreError

    try:
        return asyncio.run(what)
    except (PgError, StoreError) as exc:
        fail(str(exc))


def _set_password(root: CLIRoot, name: str, password: str) -> None:
    from postel.store import CredentialsError

    try:
        root.credentials.set_password(name, password)
    except CredentialsError as exc:
        fail(f"account {name!r}: {exc}")


@click.group(name="account")
def command() -> None:
    """Manage accounts (domains.toml, and their passwords in auth.db or the PostgreSQL store)."""


@command.command()
@_config_option
@click.argument("name")
@click.argument("address")
@click.option("--full-name", default="", help="Display name for outgoing mail.")
@_password_options
def add(
    config_dir: Path,
    name: str,
    address: str,
    full_name: str,
    password_file: Path | None,
    generate: bool,
) -> None:
    """Add account NAME receiving mail for ADDRESS (its domain must be configured).

    The password is read from --password-file, prompted for, or generated
    and printed (--generate, or when stdin is not a terminal)."""
    from postel.store import StoreError
    from postel.store.accountsfile import add_account, validate_domains

    static = _static(config_dir)
    path, text, domains = _domains(config_dir)
    if name in domains.accounts:
        fail(f"{path}: account {name!r} already exists")
    try:
        new_text = add_account(text, name, address, full_name=full_name)
    except ValueError as exc:
        fail(f"{path}: {exc}")
    try:
        validate_domains(new_text, str(path))
    except ConfigError as exc:
        _fail_config(exc)
    password, generated = _get_password(password_file, generate)
    datadir = _datadir(config_dir, static)
    pg = _pg(static, config_dir)
    if pg is not None:
        from postel.pg.accountcmds import add_account as add_pg

        _on_pg(add_pg(pg, name, password))
    else:
        with CLIRoot(datadir) as root:
            try:
                root.accounts.account(name)
            except StoreError as exc:
                fail(str(exc))
            _set_password(root, name, password)
    _write_domains(path, new_text)
    click.echo(f"account {name!r} added with address {address}")
    if generated:
        click.echo(f"password: {password}")
    tell_server(datadir.root, "reload", "uses it now")


@command.command(name="list")
@_config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_(config_dir: Path, as_json: bool) -> None:
    """List the configured accounts, their addresses and whether a password is set."""
    static = _static(config_dir)
    _, _, domains = _domains(config_dir)
    datadir = _datadir(config_dir, static)
    with_password: set[str] = set()
    pg = _pg(static, config_dir)
    if pg is not None:
        from postel.pg.accountcmds import with_password as pg_with_password

        with_password = set(_on_pg(pg_with_password(pg)))
    elif datadir.auth_db.exists():
        with CLIRoot(datadir) as root:
            with_password = set(root.credentials.accounts())
    rows = [
        {
            "name": name,
            "domain": acc.domain,
            "addresses": acc.addresses,
            "full_name": acc.full_name,
            "password": name in with_password,
        }
        for name, acc in sorted(domains.accounts.items())
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    for name, acc in sorted(domains.accounts.items()):
        password = "password set" if name in with_password else "NO PASSWORD"
        click.echo(f"{name}\t{', '.join(acc.addresses)}\t{password}")


@command.command()
@_config_option
@click.argument("name")
@_password_options
def passwd(config_dir: Path, name: str, password_file: Path | None, generate: bool) -> None:
    """Set a new password for account NAME."""
    static = _static(config_dir)
    path, _, domains = _domains(config_dir)
    if name not in domains.accounts:
        fail(f"{path}: no account {name!r}")
    password, generated = _get_password(password_file, generate)
    datadir = _datadir(config_dir, static)
    pg = _pg(static, config_dir)
    if pg is not None:
        from postel.pg.accountcmds import set_password as pg_set_password

        _on_pg(pg_set_password(pg, name, password))
    else:
        with CLIRoot(datadir) as root:
            _set_password(root, name, password)
    click.echo(f"password of account {name!r} changed")
    if generated:
        click.echo(f"password: {password}")
    tell_server(datadir.root, "reload", "uses it now")


@command.command()
@_config_option
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def remove(config_dir: Path, name: str, yes: bool) -> None:
    """Remove account NAME from domains.toml and its password (auth.db or PostgreSQL).

    Its stored messages are kept in the data directory."""
    from postel.store.accountsfile import (
        alias_references,
        remove_account,
        static_references,
        validate_domains,
    )

    static = _static(config_dir)
    path, text, domains = _domains(config_dir)
    if name not in domains.accounts:
        fail(f"{path}: no account {name!r}")
    refs = static_references(static, name)
    if refs:
        fail(
            f"{config_dir / STATIC_FILE}: account {name!r} is used by {', '.join(refs)}; "
            "change that first"
        )
    try:
        new_text = remove_account(text, name)
        validate_domains(new_text, str(path))
    except ValueError as exc:
        fail(f"{path}: {exc}")
    except ConfigError as exc:
        _fail_config(exc)
    if not yes:
        click.confirm(f"Remove account {name!r}?", abort=True)
    _write_domains(path, new_text)
    datadir = _datadir(config_dir, static)
    pg = _pg(static, config_dir)
    if pg is not None:
        from postel.pg.accountcmds import remove_password

        _on_pg(remove_password(pg, name))
    elif datadir.auth_db.exists():
        with CLIRoot(datadir) as root:
            root.credentials.remove(name)
    for alias in alias_references(domains, domains.accounts[name].addresses):
        click.echo(f"warning: alias {alias} still points to an address of {name!r}", err=True)
    click.echo(f"account {name!r} removed")
    store_dir = datadir.account_dir(name)
    if store_dir.exists():
        click.echo(f"its messages are kept in {store_dir}; delete that directory when unneeded")
    tell_server(datadir.root, "reload", "no longer knows it")
