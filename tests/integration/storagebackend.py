"""The storage backend a node of an integration test runs on: SQLite in its
data directory (the default) or PostgreSQL (docs/postgresql.md), a database
of its own per test in the session's throwaway cluster (tests/pgcluster.py).

A test that starts a node takes the ``storage_backend`` fixture (conftest.py,
parametrized over both) and calls ``configure`` on the node's config
directory after writing postel.toml and domains.toml and before starting it:
on PostgreSQL that appends the [storage] section, runs `postel config
migrate-db` and sets the accounts' passwords in the database."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from click.testing import CliRunner

from pgcluster import Cluster
from postel.cli.main import cli
from postel.config import load_config
from postel.imapserver.storeapi import AccountMailStore, MailStore
from postel.pg.accountcmds import add_account
from postel.pg.accountstore import PgStore
from postel.pg.pool import open_pool
from postel.pg.syncstore import PgMailStore
from postel.store.credentials import Credentials
from postel.store.store import Store
from postel.wiring import pg_settings

SQLITE = "sqlite"
POSTGRESQL = "postgresql"
BACKENDS = [SQLITE, POSTGRESQL]

T = TypeVar("T")


@dataclass(frozen=True)
class Backend:
    name: str
    cluster: Cluster | None = None
    database: str = ""

    @property
    def is_pg(self) -> bool:
        return self.name == POSTGRESQL

    def storage_toml(self) -> str:
        """The [storage] section of postel.toml (empty for SQLite, the default)."""
        if self.cluster is None:
            return ""
        dsn = self.cluster.dsn(self.database, with_password=False)
        return (
            f'\n[storage]\nbackend = "postgresql"\ndsn = "{dsn}"\n'
            'password_file = "pgpassword"\nconnect_timeout = 10\nqueue_lease = 60\n'
        )

    def configure(self, config_dir: Path, passwords: dict[str, str] | None = None) -> None:
        """Make the node of *config_dir* use this backend; *passwords*: account
        name to password, set where the node checks logins. Runs in a thread of
        its own, so that async tests may call it too (the CLI runs its own loop)."""
        _in_thread(lambda: self._configure(config_dir, passwords or {}))

    def _configure(self, config_dir: Path, passwords: dict[str, str]) -> None:
        if self.cluster is None:
            if passwords:
                cfg = load_config(config_dir)
                cfg.datadir.ensure()
                creds = Credentials(cfg.datadir.auth_db)
                try:
                    for name, password in passwords.items():
                        creds.set_password(name, password)
                finally:
                    creds.close()
            return
        toml = config_dir / "postel.toml"
        toml.write_text(toml.read_text() + self.storage_toml())
        (config_dir / "pgpassword").write_text(self.cluster.password + "\n")
        (config_dir / "pgpassword").chmod(0o600)
        migrated = CliRunner().invoke(cli, ["config", "migrate-db", "--config", str(config_dir)])
        assert migrated.exit_code == 0, migrated.output
        cfg = load_config(config_dir)
        settings = pg_settings(cfg.static.storage, config_dir)
        for name, password in passwords.items():
            asyncio.run(add_account(settings, name, password))

    @contextlib.contextmanager
    def mailstore(self, config_dir: Path, account: str) -> Iterator[MailStore]:
        """*account* of the node of *config_dir* as IMAP sees it, opened beside
        the running node (another writer, as a second node or the webmail)."""
        cfg = load_config(config_dir)
        if self.cluster is None:
            with Store(cfg.datadir) as store:
                yield AccountMailStore(store.account(account))
            return
        settings = pg_settings(cfg.static.storage, config_dir)
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="pg-reader", daemon=True)
        thread.start()

        def run(coro: Coroutine[object, object, T]) -> T:
            return asyncio.run_coroutine_threadsafe(coro, loop).result(60)

        try:
            pool = run(open_pool(settings))
            try:
                found = run(PgStore(pool).account(account))
                yield PgMailStore(found, loop, config_dir / "reader-bodies")
            finally:
                run(pool.close())
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            loop.close()


def _in_thread(work: Callable[[], None]) -> None:
    failed: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:
            failed.append(exc)

    thread = threading.Thread(target=run, name="storage-backend")
    thread.start()
    thread.join(120)
    assert not thread.is_alive(), "configuring the storage backend took over 120 s"
    if failed:
        raise failed[0]
