"""The DMARC evaluations of every node's incoming mail in PostgreSQL, for the
daily aggregate reports (RFC 7489 §7.2): a postel.dmarcevaldb.api.Evaluations,
with the report intervals (§6.3 ri=) and the DMARC reports' suppression list
(postel.pg.suppressions).

Synchronous over a psycopg_pool ConnectionPool, as the SMTP processes'
recorder thread, the report sender and the CLI call the SQLite EvalDB.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from postel.columns import col_utc
from postel.dmarcevaldb.errors import BadEvaluation
from postel.dmarcevaldb.record import Evaluation
from postel.pg.pool import SyncConn
from postel.pg.rows import col_int
from postel.pg.suppressions import PgSuppressions


class PgEvalDB(PgSuppressions):
    """The shared evaluations over *pool*; :meth:`close` leaves the pool to
    whoever opened it. *where* names the database in error messages."""

    def __init__(self, pool: ConnectionPool[SyncConn], where: str = "PostgreSQL") -> None:
        super().__init__(pool, "dmarc")
        self.where = where

    def close(self) -> None:
        pass

    def add(self, evaluations: Iterable[Evaluation]) -> int:
        """Store *evaluations* in one transaction; how many."""
        rows = [
            (
                e.policy_domain,
                e.day,
                e.received.astimezone(dt.UTC).replace(microsecond=0),
                e.optional,
                Jsonb(e.to_json()),
            )
            for e in evaluations
        ]
        if rows:
            with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO dmarc_evaluation (policy_domain, day, received, optional, data)"
                    " VALUES (%s, %s, %s, %s, %s)",
                    rows,
                )
        return len(rows)

    def evaluations(
        self, *, through: dt.date | None = None, policy_domain: str | None = None
    ) -> list[Evaluation]:
        """Stored evaluations of days up to *through*, oldest first."""
        sql = "SELECT id, policy_domain, received, optional, data FROM dmarc_evaluation WHERE true"
        args: list[object] = []
        if through is not None:
            sql += " AND day <= %s"
            args.append(through)
        if policy_domain is not None:
            sql += " AND policy_domain = %s"
            args.append(policy_domain)
        sql += " ORDER BY id"
        with self._pool.connection() as conn:
            found = conn.execute(sql.encode(), args).fetchall()
        out: list[Evaluation] = []
        for i, pd, received, optional, data in found:
            try:
                if not isinstance(data, dict):
                    raise TypeError("data is not a JSON object")
                out.append(
                    Evaluation.from_json(
                        data,
                        received=col_utc(received),
                        policy_domain=str(pd),
                        optional=bool(optional),
                        id=col_int(i),
                    )
                )
            except (ValueError, KeyError, TypeError) as exc:
                raise BadEvaluation(f"{self.where}: dmarc_evaluation {i}: {exc}") from exc
        return out

    def days(self) -> list[dt.date]:
        with self._pool.connection() as conn:
            found = conn.execute(
                "SELECT DISTINCT day FROM dmarc_evaluation ORDER BY day"
            ).fetchall()
        return [d for (d,) in found if isinstance(d, dt.date)]

    def delete(self, ids: Sequence[int]) -> int:
        if not ids:
            return 0
        with self._pool.connection() as conn:
            return conn.execute(
                "DELETE FROM dmarc_evaluation WHERE id = ANY(%s)", (list(ids),)
            ).rowcount

    def delete_older_than(self, day: dt.date) -> int:
        with self._pool.connection() as conn:
            return conn.execute("DELETE FROM dmarc_evaluation WHERE day < %s", (day,)).rowcount

    def last_report_end(self, policy_domain: str) -> dt.datetime | None:
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT period_end FROM dmarc_last_report WHERE policy_domain = %s",
                (policy_domain,),
            ).fetchone()
        return None if row is None else col_utc(row[0])

    def set_last_report_end(self, policy_domain: str, end: dt.datetime) -> None:
        with self._pool.connection() as conn:
            conn.execute(
                "INSERT INTO dmarc_last_report (policy_domain, period_end) VALUES (%s, %s)"
                " ON CONFLICT (policy_domain) DO UPDATE SET period_end = excluded.period_end",
                (policy_domain, end.astimezone(dt.UTC).replace(microsecond=0)),
            )
