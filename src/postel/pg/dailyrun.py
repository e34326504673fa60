"""One node sends each day's reports of a kind, and the day's digest of
received reports' findings (a postel.dailyrun.DailyRuns).

A run holds a session advisory lock (pg_try_advisory_lock, keys in
postel.pg.migrate) on a connection kept out of the pool for its length; a
node that does not get the lock skips the run. A run that ends without an
error is recorded in ``report_run`` (kind, UTC day), so that a node getting
the lock later the same day (it started later, or its daily loop fired after
the first node finished) does not send again. A run that failed, or a node
that died mid-run (its session ends, and with it the lock), leaves the day
open: the next node to try takes it over; what was sent is marked in the
shared results and is not sent twice.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Iterator

import psycopg
from psycopg_pool import ConnectionPool

from postel.dailyrun import RunKind
from postel.pg.migrate import DIGEST_LOCK, DMARC_REPORT_LOCK, TLS_REPORT_LOCK
from postel.pg.pool import SyncConn

log = logging.getLogger("postel.pg")

LOCKS: dict[RunKind, int] = {
    "tls": TLS_REPORT_LOCK,
    "dmarc": DMARC_REPORT_LOCK,
    "digest": DIGEST_LOCK,
}


class PgDailyRuns:
    """Daily runs shared by the nodes over *pool*; *node* names this node in
    ``report_run``."""

    def __init__(self, pool: ConnectionPool[SyncConn], node: str) -> None:
        self._pool = pool
        self.node = node

    @contextlib.contextmanager
    def claim(self, kind: RunKind, day: dt.date) -> Iterator[bool]:
        key = LOCKS[kind]
        with self._pool.connection() as conn:
            got = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
            if got is None or not got[0]:
                log.debug(
                    "daily reports sent by another node",
                    extra={"kind": kind, "day": day.isoformat(), "reason": "locked"},
                )
                yield False
                return
            try:
                done = conn.execute(
                    "SELECT node FROM report_run WHERE kind = %s AND day = %s", (kind, day)
                ).fetchone()
                if done is not None:
                    log.debug(
                        "daily reports sent by another node",
                        extra={"kind": kind, "day": day.isoformat(), "sent_by": str(done[0])},
                    )
                    yield False
                    return
                yield True
                conn.execute(
                    "INSERT INTO report_run (kind, day, node, finished)"
                    " VALUES (%s, %s, %s, now()) ON CONFLICT (kind, day) DO NOTHING",
                    (kind, day, self.node),
                )
            finally:
                # A broken connection ended its session, and the lock with it.
                with contextlib.suppress(psycopg.Error):
                    conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
