"""One account's mailboxes and messages: accounts/<name>/index.db and msg/.

AccountStore puts together the parts of one account's store, one concern per
module: placing and delivering messages (store/placing.py), mailboxes
(store/mailboxes.py) and messages (store/messages.py), the recovery pass
(store/recovery.py), the per-domain security
memory (store/domainsecurity.py) and checks (store/checks.py), over the shared
plumbing of store/accountbase.py (locks, write transaction, row helpers).
"""

from __future__ import annotations

import os
import threading
from array import array
from collections.abc import Callable, Sequence
from pathlib import Path

from postel.db import open_db
from postel.store import ftsbackfill
from postel.store.accountbase import INDEX_DB, LOCK_FILE, _ensure_dir
from postel.store.batching import DeliveryBatcher
from postel.store.changes import Change
from postel.store.checks import Checks
from postel.store.domainsecurity import DomainSecurityMemory
from postel.store.errors import UnknownAccount
from postel.store.jobs import Delivery
from postel.store.mailboxes import Mailboxes
from postel.store.message import Message
from postel.store.messages import Messages
from postel.store.names import DEFAULT_MAILBOXES
from postel.store.placing import Placing
from postel.store.recovery import Recovery
from postel.store.schema import MIGRATIONS

__all__ = ["INDEX_DB", "LOCK_FILE", "AccountStore", "Delivery"]


class AccountStore(Placing, Mailboxes, Messages, DomainSecurityMemory, Checks, Recovery):
    """Mailboxes and messages of one account. Create through :class:`Store`."""

    def __init__(
        self,
        name: str,
        directory: Path,
        tmpdir: Path,
        batcher: DeliveryBatcher | None = None,
        *,
        publish: Callable[[str, Sequence[Change]], None] | None = None,
    ) -> None:
        """*batcher*: the delivery path of the Store that opens this account;
        without one (an account opened on its own) it gets its own. *publish*:
        called with the changes of each committed transaction (store/notify.py)."""
        self.name = name
        self._publish = publish
        self._changelog = None
        self.dir = directory
        self._tmpdir = tmpdir
        self._own_batcher = batcher is None
        self._batcher = batcher if batcher is not None else DeliveryBatcher(self._this_account)
        self._lock = threading.RLock()
        self._mailbox_names: dict[str, str] = {}  # given name -> normalised
        self._uid_cache: dict[int, tuple[tuple[int, int], array[int]]] = {}  # Messages.uids
        self._msgdir = directory / "msg"
        self._msgdir_str = str(self._msgdir)
        _ensure_dir(directory)
        self._lockfd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            self._conn = open_db(directory / INDEX_DB, MIGRATIONS)
        except BaseException:
            os.close(self._lockfd)
            raise
        self._closed = False
        try:
            existing = {r[0] for r in self._conn.execute("SELECT name FROM mailbox")}
            for mailbox in DEFAULT_MAILBOXES:
                if mailbox not in existing:
                    with self._write():
                        self._mailbox_id(mailbox, create=True)
        except BaseException:
            self._conn.close()
            os.close(self._lockfd)
            raise
        self._backfill_stop = threading.Event()
        self._backfill: threading.Thread | None = None
        if ftsbackfill.backlog_below(self._conn):
            self._backfill = threading.Thread(
                target=self._backfill_loop, name=f"fts-backfill-{name}", daemon=True
            )
            self._backfill.start()

    def copy(self, msgid: int, mailbox: str) -> Message:
        """A copy of message *msgid* in *mailbox* (created if missing), with its
        flags, keywords and received time (IMAP COPY, RFC 9051 §6.4.7)."""
        msg = self.get(msgid)
        return self.deliver(
            mailbox,
            self.message_path(msgid),
            flags=msg.flags,
            keywords=msg.keywords,
            received=msg.received,
        )

    def _this_account(self, name: str) -> AccountStore:
        if name != self.name:
            raise UnknownAccount(f"account {name!r}: not this store's account {self.name!r}")
        return self

    def close(self) -> None:
        if self._own_batcher:
            self._batcher.close()
        self._backfill_stop.set()
        if self._backfill is not None and self._backfill is not threading.current_thread():
            self._backfill.join(30)
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()
                os.close(self._lockfd)
