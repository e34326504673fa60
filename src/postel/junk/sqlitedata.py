"""The accounts' junk filter data in SQLite: accounts/<name>/junk.db
(postel.junk.db), as postel.junk.store.JunkData.

The junk.db of the accounts recently used stay open (at most OPEN_DBS):
opening one costs more than filing a message (bench/NOTES.md, junk filter),
so keep one per process, made in that process (an SQLite connection must not
cross a fork), and close it at shutdown.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from postel.junk.db import FILE, JunkDB

OPEN_DBS = 32  # accounts whose junk.db stays open between messages


class SQLiteJunkData:
    """Per-account junk.db files under *accounts_dir*/<account>/."""

    def __init__(self, accounts_dir: Path) -> None:
        self.accounts_dir = accounts_dir
        # One user of the open databases at a time in this process; SQLite
        # serialises the processes (the SMTP workers and the main one).
        self._lock = threading.Lock()
        self._open: OrderedDict[str, tuple[JunkDB, tuple[int, int]]] = OrderedDict()
        # The filing records have their own connections: a filing reads on
        # while earlier filings are committed (WAL readers do not wait).
        self._record_lock = threading.Lock()
        self._record_open: OrderedDict[str, tuple[JunkDB, tuple[int, int]]] = OrderedDict()

    @contextmanager
    def account(self, name: str, *, records: bool = False) -> Iterator[JunkDB]:
        """The account's junk.db, kept open; reopened when the file was
        replaced (the account removed and added again) or removed. *records*:
        the connection that writes the filing records (not synced)."""
        path = self.accounts_dir / name
        lock, pool = (self._record_lock, self._record_open) if records else (self._lock, self._open)
        with lock:
            entry = pool.pop(name, None)
            if entry is not None:
                db, ident = entry
                try:
                    st = os.stat(db.path)
                    current: tuple[int, int] | None = (st.st_dev, st.st_ino)
                except FileNotFoundError:
                    current = None
                if current != ident:
                    db.close()
                    entry = None
            if entry is None:
                db = JunkDB.open(path, durable=not records)
                st = os.stat(db.path)
                entry = (db, (st.st_dev, st.st_ino))
            pool[name] = entry
            while len(pool) > OPEN_DBS:
                _, (old, _ident) = pool.popitem(last=False)
                old.close()
            yield entry[0]

    def has(self, name: str) -> bool:
        return (self.accounts_dir / name / FILE).exists()

    def close(self) -> None:
        """Close the open junk.db files (at shutdown; later use reopens them)."""
        for lock, pool in ((self._lock, self._open), (self._record_lock, self._record_open)):
            with lock:
                while pool:
                    _, (db, _ident) = pool.popitem()
                    db.close()
