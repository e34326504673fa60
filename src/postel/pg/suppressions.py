"""A report kind's suppression list and bounce counts in PostgreSQL, shared by
the nodes: a postel.suppressions.Suppressions (the same rules as the SQLite
list: addresses compared in lower case, suppressed for 30 days at the bounce
threshold)."""

from __future__ import annotations

import datetime as dt

from psycopg_pool import ConnectionPool

from postel.dailyrun import ReportKind
from postel.pg.pool import SyncConn
from postel.pg.rows import col_int
from postel.suppressions import BOUNCE_THRESHOLD, SUPPRESS_AFTER_BOUNCES


def _utc(value: object) -> dt.datetime:
    if not isinstance(value, dt.datetime):
        raise TypeError(f"expected a timestamptz column, got {type(value).__name__}")
    return value.astimezone(dt.UTC)


def _seconds(t: dt.datetime) -> dt.datetime:
    """Whole seconds, as the SQLite list keeps them."""
    return t.astimezone(dt.UTC).replace(microsecond=0)


class PgSuppressions:
    """The suppression list of *kind*'s reports over a synchronous *pool*."""

    def __init__(self, pool: ConnectionPool[SyncConn], kind: ReportKind) -> None:
        self._pool = pool
        self.kind = kind

    def suppress(
        self, address: str, until: dt.datetime, comment: str = "", *, manual: bool = True
    ) -> None:
        with self._pool.connection() as conn:
            conn.execute(
                "INSERT INTO report_suppression (kind, address, until, comment, manual, created)"
                " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (kind, address) DO UPDATE"
                " SET until = excluded.until, comment = excluded.comment,"
                " manual = excluded.manual",
                (
                    self.kind,
                    address.lower(),
                    _seconds(until),
                    comment,
                    manual,
                    _seconds(dt.datetime.now(dt.UTC)),
                ),
            )

    def unsuppress(self, address: str) -> bool:
        with self._pool.connection() as conn:
            cur = conn.execute(
                "DELETE FROM report_suppression WHERE kind = %s AND address = %s",
                (self.kind, address.lower()),
            )
            return cur.rowcount > 0

    def suppressions(self) -> list[tuple[str, dt.datetime, str, bool]]:
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT address, until, comment, manual FROM report_suppression"
                " WHERE kind = %s ORDER BY address",
                (self.kind,),
            ).fetchall()
        return [(str(a), _utc(u), str(c), bool(m)) for a, u, c, m in rows]

    def is_suppressed(self, address: str, now: dt.datetime | None = None) -> bool:
        now = now or dt.datetime.now(dt.UTC)
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT until FROM report_suppression WHERE kind = %s AND address = %s",
                (self.kind, address.lower()),
            ).fetchone()
        return row is not None and _utc(row[0]) > now

    def clear_bounces(self, address: str) -> None:
        with self._pool.connection() as conn:
            conn.execute(
                "DELETE FROM report_bounce WHERE kind = %s AND address = %s",
                (self.kind, address.lower()),
            )

    def record_bounce(
        self, address: str, *, threshold: int = BOUNCE_THRESHOLD, now: dt.datetime | None = None
    ) -> bool:
        """Count a bounced report (one statement: nodes counting at once add
        up); suppress for 30 days at *threshold*. True if suppressed."""
        now = now or dt.datetime.now(dt.UTC)
        addr = address.lower()
        with self._pool.connection() as conn:
            row = conn.execute(
                "INSERT INTO report_bounce (kind, address, count, last) VALUES (%s, %s, 1, %s)"
                " ON CONFLICT (kind, address) DO UPDATE"
                " SET count = report_bounce.count + 1, last = excluded.last RETURNING count",
                (self.kind, addr, _seconds(now)),
            ).fetchone()
        count = col_int(row[0]) if row is not None else 0
        if count < threshold:
            return False
        self.suppress(
            addr, now + SUPPRESS_AFTER_BOUNCES, f"automatic: {count} bounced reports", manual=False
        )
        return True
