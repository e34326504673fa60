"""The store of all accounts in a data directory."""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Sequence
from types import TracebackType

from postel.datadir import DataDir
from postel.store.account import INDEX_DB, AccountStore
from postel.store.changes import Change
from postel.store.errors import StoreError, UnknownAccount
from postel.store.names import check_account_name
from postel.store.notify import Publisher


class Store:
    """Opens AccountStores on demand and keeps them open until :meth:`close`.

    *accounts*, when given, is the set of configured account names; others
    are refused with UnknownAccount (else any valid name is accepted).
    The changes of each committed write go to *publish*; by default to the
    data directory's change socket (store/notify.py), read by the running server.
    """

    def __init__(
        self,
        datadir: DataDir,
        *,
        accounts: Collection[str] | None = None,
        publish: Callable[[str, Sequence[Change]], None] | None = None,
    ) -> None:
        self.datadir = datadir
        self._publisher = Publisher(datadir.tmp) if publish is None else None
        self._publish = publish or self._publisher
        self._known = None if accounts is None else frozenset(accounts)
        self._accounts: dict[str, AccountStore] = {}
        self._lock = threading.Lock()
        self._closed = False
        for d in (datadir.root, datadir.accounts_dir, datadir.tmp):
            d.mkdir(parents=True, exist_ok=True, mode=0o700)

    def account(self, name: str, *, create: bool = True) -> AccountStore:
        """The store of account *name*, created (with the default mailboxes)
        unless *create* is false, in which case it must exist on disk."""
        check_account_name(name)
        if self._known is not None and name not in self._known:
            raise UnknownAccount(f"account {name!r} is not configured")
        with self._lock:
            if self._closed:
                raise StoreError(f"{self.datadir.root}: store is closed")
            acc = self._accounts.get(name)
            if acc is None:
                directory = self.datadir.account_dir(name)
                if not create and not (directory / INDEX_DB).exists():
                    raise UnknownAccount(f"account {name!r}: no store at {directory}")
                acc = AccountStore(name, directory, self.datadir.tmp, publish=self._publish)
                self._accounts[name] = acc
            return acc

    def account_names(self) -> list[str]:
        """Accounts with a store on disk (including ones no longer configured)."""
        if not self.datadir.accounts_dir.is_dir():
            return []
        return sorted(
            d.name for d in self.datadir.accounts_dir.iterdir() if (d / INDEX_DB).is_file()
        )

    def close(self) -> None:
        with self._lock:
            self._closed = True
            accounts, self._accounts = list(self._accounts.values()), {}
        for acc in accounts:
            acc.close()
        if self._publisher is not None:
            self._publisher.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
