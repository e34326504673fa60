"""Addresses that get no outgoing reports (TLS reports, DMARC reports).

Each report database has a ``suppression`` table (address, until, comment,
manual, created) and a ``bounce`` table (address, count, last); the databases
mix :class:`SuppressionList` in. An address is suppressed by hand, or for 30
days after three of our reports to it bounced.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
from contextlib import AbstractContextManager
from typing import Protocol

from postel.db import transaction

BOUNCE_THRESHOLD = 3
SUPPRESS_AFTER_BOUNCES = dt.timedelta(days=30)


def _iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).isoformat(timespec="seconds")


class Suppressions(Protocol):
    """What the report senders, the delivery recorder, the admin pages and the
    CLI use of a suppression list (SQLite: :class:`SuppressionList`; shared by
    the nodes: postel.pg.suppressions)."""

    def suppress(
        self, address: str, until: dt.datetime, comment: str = "", *, manual: bool = True
    ) -> None: ...

    def unsuppress(self, address: str) -> bool: ...

    def suppressions(self) -> list[tuple[str, dt.datetime, str, bool]]: ...

    def is_suppressed(self, address: str, now: dt.datetime | None = None) -> bool: ...

    def clear_bounces(self, address: str) -> None: ...

    def record_bounce(
        self, address: str, *, threshold: int = BOUNCE_THRESHOLD, now: dt.datetime | None = None
    ) -> bool: ...


class SuppressionList:
    """The suppression list of a report database; it names its connection."""

    def _suppression_db(self) -> sqlite3.Connection:
        raise NotImplementedError

    def _suppression_lock(self) -> AbstractContextManager[object]:
        """Held around each use of the connection (a database shared by threads)."""
        return contextlib.nullcontext()

    def suppress(
        self, address: str, until: dt.datetime, comment: str = "", *, manual: bool = True
    ) -> None:
        with self._suppression_lock():
            db = self._suppression_db()
            db.execute(
                "INSERT INTO suppression (address, until, comment, manual, created)"
                " VALUES (?,?,?,?,?) ON CONFLICT(address) DO UPDATE SET until = excluded.until,"
                " comment = excluded.comment, manual = excluded.manual",
                (address.lower(), _iso(until), comment, int(manual), _iso(dt.datetime.now(dt.UTC))),
            )

    def unsuppress(self, address: str) -> bool:
        with self._suppression_lock():
            db = self._suppression_db()
            cur = db.execute("DELETE FROM suppression WHERE address = ?", (address.lower(),))
            return cur.rowcount > 0

    def suppressions(self) -> list[tuple[str, dt.datetime, str, bool]]:
        with self._suppression_lock():
            db = self._suppression_db()
            return [
                (
                    r["address"],
                    dt.datetime.fromisoformat(r["until"]),
                    r["comment"],
                    bool(r["manual"]),
                )
                for r in db.execute("SELECT * FROM suppression ORDER BY address")
            ]

    def is_suppressed(self, address: str, now: dt.datetime | None = None) -> bool:
        with self._suppression_lock():
            db = self._suppression_db()
            now = now or dt.datetime.now(dt.UTC)
            r = db.execute(
                "SELECT until FROM suppression WHERE address = ?", (address.lower(),)
            ).fetchone()
            return r is not None and dt.datetime.fromisoformat(r["until"]) > now

    def clear_bounces(self, address: str) -> None:
        """Forget counted bounces after a report reached *address*."""
        with self._suppression_lock():
            db = self._suppression_db()
            db.execute("DELETE FROM bounce WHERE address = ?", (address.lower(),))

    def record_bounce(
        self, address: str, *, threshold: int = BOUNCE_THRESHOLD, now: dt.datetime | None = None
    ) -> bool:
        """Count a bounced report; suppress for 30 days at *threshold*. True if suppressed."""
        with self._suppression_lock():
            db = self._suppression_db()
            now = now or dt.datetime.now(dt.UTC)
            addr = address.lower()
            with transaction(db):
                db.execute(
                    "INSERT INTO bounce (address, count, last) VALUES (?, 1, ?)"
                    " ON CONFLICT(address) DO UPDATE SET count = count + 1, last = excluded.last",
                    (addr, _iso(now)),
                )
                row = db.execute("SELECT count FROM bounce WHERE address = ?", (addr,))
                count = int(row.fetchone()[0])
            if count >= threshold:
                self.suppress(
                    addr,
                    now + SUPPRESS_AFTER_BOUNCES,
                    f"automatic: {count} bounced reports",
                    manual=False,
                )
                return True
            return False
