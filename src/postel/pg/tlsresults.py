"""The TLS results of every node's deliveries in PostgreSQL, for the daily
reports (RFC 8460 §4): a postel.tlsrptresultdb.api.TLSResults, with the TLS
reports' suppression list (postel.pg.suppressions).

Synchronous over a psycopg_pool ConnectionPool: the delivery recorder writes
from its worker thread, the report sender, admin pages and CLI call it as they
call the SQLite ResultDB. Rows merge as the SQLite database's do; nodes adding
results to the same row at once serialise on its row lock (keys taken in one
order: no deadlock between two batches).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from postel.columns import col_utc
from postel.pg.pool import SyncConn
from postel.pg.rows import Row
from postel.pg.suppressions import PgSuppressions
from postel.tlsrptresultdb.columns import result_row, results_obj
from postel.tlsrptresultdb.record import AttemptResults, ResultRow, merge_row, merged_attempts

_COLUMNS = (
    "policy_domain, day, recipient_domain, is_host, send_report, created, updated,"
    " sent_to_recipient_domain, recipient_domain_reporting_addresses,"
    " sent_to_policy_domain, results"
)


def _day(value: object) -> dt.date:
    if not isinstance(value, dt.date):
        raise TypeError(f"expected a date column, got {type(value).__name__}")
    return value


_NAMES = [c.strip() for c in _COLUMNS.split(",")]


def _to_row(r: Row) -> ResultRow:
    # jsonb columns arrive decoded
    return result_row(
        dict(zip(_NAMES, r, strict=True)).__getitem__, day=_day, when=col_utc, obj=lambda v: v
    )


def _results(row: ResultRow) -> Jsonb:
    return Jsonb(results_obj(row))


class PgResultDB(PgSuppressions):
    """The shared TLS results over *pool*; :meth:`close` leaves the pool to
    whoever opened it."""

    def __init__(self, pool: ConnectionPool[SyncConn]) -> None:
        super().__init__(pool, "tls")

    def close(self) -> None:
        pass

    def add_attempt(
        self, attempt: AttemptResults, *, send_report: bool, now: dt.datetime | None = None
    ) -> list[ResultRow]:
        return self.add_attempts([(attempt, send_report)], now=now)

    def add_attempts(
        self, attempts: Sequence[tuple[AttemptResults, bool]], *, now: dt.datetime | None = None
    ) -> list[ResultRow]:
        """Merge several attempts' results (with their send_report) in one transaction."""
        now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(microsecond=0)
        day = now.date()
        rows = merged_attempts(attempts, day)
        out: list[ResultRow] = []
        with self._pool.connection() as conn, conn.transaction():
            for key in sorted(rows):
                row = rows[key]
                inserted = conn.execute(
                    "INSERT INTO tls_result (policy_domain, day, recipient_domain, is_host,"
                    " send_report, created, updated, results)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
                    " ON CONFLICT (policy_domain, day, recipient_domain) DO NOTHING RETURNING id",
                    (
                        row.policy_domain,
                        day,
                        row.recipient_domain,
                        row.is_host,
                        row.send_report,
                        now,
                        now,
                        _results(row),
                    ),
                ).fetchone()
                if inserted is not None:
                    row.created = row.updated = now
                    out.append(row)
                    continue
                found = conn.execute(
                    f"SELECT {_COLUMNS} FROM tls_result WHERE policy_domain = %s AND day = %s"
                    " AND recipient_domain = %s FOR UPDATE",
                    (row.policy_domain, day, row.recipient_domain),
                ).fetchone()
                assert found is not None  # the conflicting row, committed and locked now
                merged = merge_row(_to_row(found), row)
                conn.execute(
                    "UPDATE tls_result SET send_report = %s, updated = %s, results = %s"
                    " WHERE policy_domain = %s AND day = %s AND recipient_domain = %s",
                    (
                        merged.send_report,
                        now,
                        _results(merged),
                        merged.policy_domain,
                        day,
                        merged.recipient_domain,
                    ),
                )
                merged.updated = now
                out.append(merged)
        return out

    def rows(
        self, *, day: dt.date | None = None, policy_domain: str | None = None
    ) -> list[ResultRow]:
        sql = f"SELECT {_COLUMNS} FROM tls_result WHERE true"
        args: list[object] = []
        if day is not None:
            sql += " AND day = %s"
            args.append(day)
        if policy_domain is not None:
            sql += " AND policy_domain = %s"
            args.append(policy_domain)
        sql += " ORDER BY day, policy_domain, recipient_domain"
        with self._pool.connection() as conn:
            return [_to_row(r) for r in conn.execute(sql.encode(), args).fetchall()]

    def days(self) -> list[dt.date]:
        with self._pool.connection() as conn:
            found = conn.execute("SELECT DISTINCT day FROM tls_result ORDER BY day").fetchall()
        return [_day(r[0]) for r in found]

    def mark_sent(
        self,
        day: dt.date,
        policy_domain: str,
        *,
        to_recipient_domain: bool,
        reporting_addresses: list[str] | None = None,
        recipient_domain: str | None = None,
    ) -> None:
        """Record that a report covering these rows went out."""
        where = "day = %s AND policy_domain = %s"
        args: list[object] = [day, policy_domain]
        if recipient_domain is not None:
            where += " AND recipient_domain = %s"
            args.append(recipient_domain)
        if to_recipient_domain:
            sql = (
                "UPDATE tls_result SET sent_to_recipient_domain = true,"
                f" recipient_domain_reporting_addresses = %s WHERE {where}"
            )
            args.insert(0, Jsonb(sorted(reporting_addresses or [])))
        else:
            sql = f"UPDATE tls_result SET sent_to_policy_domain = true WHERE {where}"
        with self._pool.connection() as conn:
            conn.execute(sql.encode(), args)

    def delete(
        self,
        day: dt.date,
        policy_domain: str | None = None,
        *,
        recipient_domain: str | None = None,
    ) -> int:
        sql = "DELETE FROM tls_result WHERE day = %s"
        args: list[object] = [day]
        if policy_domain is not None:
            sql += " AND policy_domain = %s"
            args.append(policy_domain)
        if recipient_domain is not None:
            sql += " AND recipient_domain = %s"
            args.append(recipient_domain)
        with self._pool.connection() as conn:
            return conn.execute(sql.encode(), args).rowcount

    def delete_older_than(self, day: dt.date) -> int:
        with self._pool.connection() as conn:
            return conn.execute("DELETE FROM tls_result WHERE day < %s", (day,)).rowcount
