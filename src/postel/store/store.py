"""The store of all accounts in a data directory."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Collection, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from postel.datadir import DataDir
from postel.store.account import INDEX_DB, AccountStore
from postel.store.batching import DeliveryBatcher
from postel.store.changes import Change
from postel.store.errors import OverQuota, StoreError, UnknownAccount
from postel.store.jobs import Job, Result
from postel.store.msgfile import temp_path
from postel.store.names import check_account_name
from postel.store.notify import Publisher
from postel.store.recovery import Recovered

if TYPE_CHECKING:
    from postel.store.api import Accounts


class Store:
    """Opens AccountStores on demand and keeps them open until :meth:`close`.

    *accounts*, when given, is the set of configured account names; others
    are refused with UnknownAccount (else any valid name is accepted).
    The changes of each committed write go to *publish*; by default to the
    data directory's change socket (store/notify.py), read by the running server.
    *quota* gives an account's quota in bytes (0: none); a delivery beyond it
    fails with OverQuota.
    """

    def __init__(
        self,
        datadir: DataDir,
        *,
        accounts: Collection[str] | None = None,
        publish: Callable[[str, Sequence[Change]], None] | None = None,
        quota: Callable[[str], int] | None = None,
    ) -> None:
        self.datadir = datadir
        # An account's quota in bytes, 0 for none (domains.toml ``quota``),
        # enforced on every delivery (store/placing.py).
        self._quota = quota
        self._publisher = Publisher(datadir.tmp) if publish is None else None
        self._publish = publish or self._publisher
        self._known = None if accounts is None else frozenset(accounts)
        self._accounts: dict[str, AccountStore] = {}
        self._lock = threading.Lock()
        self._closed = False
        # The one delivery path of every account of this store (store/batching.py).
        self.batcher = DeliveryBatcher(self.account)
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
                acc = AccountStore(
                    name, directory, self.datadir.tmp, self.batcher, publish=self._publish
                )
                if self._quota is not None:
                    acc.quota = functools.partial(self._quota, name)
                self._accounts[name] = acc
            return acc

    # -- the one delivery path (store/batching.py), for event loops ----------

    async def deliver_file(
        self, targets: Sequence[tuple[str, str]], path: Path, *, requiretls: bool = False
    ) -> Result:
        """Deliver the complete, fsynced file *path* to each (account, mailbox)
        of *targets*, stopping at the first failure; *path* is left alone.
        Returns (account, Message) of each delivery and the error that stopped
        them, if any."""
        return await self.batcher.deliver(Job(path, targets, requiretls=requiretls))

    async def write_and_deliver(
        self,
        targets: Sequence[tuple[str, str]],
        path: Path,
        headers: bytes,
        body: bytes | Path,
        *,
        requiretls: bool = False,
        text: str | None = None,
    ) -> Result:
        """Write the new file *path* (*headers*, then *body*: bytes or a file),
        fsynced, then :meth:`deliver_file` it; an error writing it is raised.
        *path* is left for the caller. *text*: the message's body text for the
        search index (store/bodytext.py), when the caller has it; else it is
        extracted from the file for each target."""
        job = Job(path, targets, write=(headers, body), requiretls=requiretls, text=text)
        return await self.batcher.deliver(job)

    async def deliver_bytes(
        self, targets: Sequence[tuple[str, str]], data: bytes, *, requiretls: bool = False
    ) -> Result:
        """:meth:`write_and_deliver` of *data* through a temporary file in tmp/."""
        path = temp_path(self.datadir.tmp)
        try:
            return await self.write_and_deliver(targets, path, b"", data, requiretls=requiretls)
        finally:
            path.unlink(missing_ok=True)

    def finish_deliveries(self) -> None:
        """Wait for the deliveries queued so far (blocking); a later one
        starts the delivery thread again."""
        self.batcher.stop()

    def quota_of(self, name: str) -> int:
        """The quota of account *name* in bytes; 0: none."""
        return self._quota(name) if self._quota is not None else 0

    def check_quota(self, accounts: Iterable[str], size: int = 0) -> OverQuota | None:
        """The first of *accounts* that is full or has no room for *size* more
        bytes (blocking: call in a thread); None when all have room. The
        delivery itself checks again (store/placing.py)."""
        for name in dict.fromkeys(accounts):
            quota = self.quota_of(name)
            if not quota:
                continue
            used = self.account(name).usage()
            if used >= quota or used + size > quota:
                return OverQuota(name, used, quota, size)
        return None

    def account_names(self) -> list[str]:
        """Accounts with a store on disk (including ones no longer configured)."""
        if not self.datadir.accounts_dir.is_dir():
            return []
        return sorted(
            d.name for d in self.datadir.accounts_dir.iterdir() if (d / INDEX_DB).is_file()
        )

    def recover(self) -> list[Recovered]:
        """The recovery pass (store/recovery.py) over every account on disk:
        only while nothing delivers (at start, or once deliveries stopped)."""
        return [self.account(name, create=False).recover() for name in self.account_names()]

    def advance_checkpoints(self) -> list[Recovered]:
        """:meth:`AccountStore.advance_checkpoint` of every account on disk
        (while deliveries go on)."""
        return [
            self.account(name, create=False).advance_checkpoint() for name in self.account_names()
        ]

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Deliveries already queued are done first; later ones fail."""
        self.batcher.close()
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


if TYPE_CHECKING:

    def _keeps_to_the_interface(store: Store) -> Accounts:
        # mypy checks here that Store (and the AccountStore it opens) is
        # what postel.store.api promises to the rest of postel.
        return store
