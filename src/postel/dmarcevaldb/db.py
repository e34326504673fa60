"""Storage of DMARC evaluations, report intervals and the suppression list."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

from postel.db import Handle, Migration, open_db, transaction
from postel.dmarcevaldb.errors import BadEvaluation, DMARCEvalDBError
from postel.dmarcevaldb.record import Evaluation
from postel.suppressions import SuppressionList

MIGRATIONS: list[Migration] = [
    """
    -- One row per incoming message whose author domain asks for aggregate reports.
    CREATE TABLE evaluation (
        id INTEGER PRIMARY KEY,
        policy_domain TEXT NOT NULL,
        day TEXT NOT NULL,
        received TEXT NOT NULL,
        optional INTEGER NOT NULL DEFAULT 0,
        data TEXT NOT NULL
    );
    CREATE INDEX evaluation_day ON evaluation (day, policy_domain);
    -- End of the period of the last report sent per policy domain (the ri interval).
    CREATE TABLE last_report (
        policy_domain TEXT PRIMARY KEY,
        period_end TEXT NOT NULL
    );
    CREATE TABLE suppression (
        address TEXT PRIMARY KEY,
        until TEXT NOT NULL,
        comment TEXT NOT NULL DEFAULT '',
        manual INTEGER NOT NULL DEFAULT 1,
        created TEXT NOT NULL
    );
    CREATE TABLE bounce (
        address TEXT PRIMARY KEY,
        count INTEGER NOT NULL,
        last TEXT NOT NULL
    );
    """,
]


def _iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).isoformat(timespec="seconds")


class EvalDB(Handle, SuppressionList):
    """dmarceval.db: open with :meth:`open`, close with :meth:`close`."""

    closed_error = DMARCEvalDBError

    @classmethod
    def open(cls, path: Path, *, readonly: bool = False) -> EvalDB:
        return cls(open_db(path, MIGRATIONS, readonly=readonly), path)

    # Evaluations.

    def add(self, evaluations: Iterable[Evaluation]) -> int:
        """Store *evaluations* in one transaction; how many."""
        rows = [
            (
                e.policy_domain,
                e.day.isoformat(),
                _iso(e.received),
                int(e.optional),
                json.dumps(e.to_json(), separators=(",", ":"), sort_keys=True),
            )
            for e in evaluations
        ]
        with transaction(self.conn):
            self.conn.executemany(
                "INSERT INTO evaluation (policy_domain, day, received, optional, data)"
                " VALUES (?,?,?,?,?)",
                rows,
            )
        return len(rows)

    def _evaluation(self, r: sqlite3.Row) -> Evaluation:
        try:
            return Evaluation.from_json(
                json.loads(r["data"]),
                received=dt.datetime.fromisoformat(r["received"]),
                policy_domain=r["policy_domain"],
                optional=bool(r["optional"]),
                id=int(r["id"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise BadEvaluation(f"{self.path}: evaluation {r['id']}: {exc}") from exc

    def evaluations(
        self, *, through: dt.date | None = None, policy_domain: str | None = None
    ) -> list[Evaluation]:
        """Stored evaluations of days up to *through*, oldest first."""
        sql, args = "SELECT * FROM evaluation WHERE 1=1", []
        if through is not None:
            sql += " AND day <= ?"
            args.append(through.isoformat())
        if policy_domain is not None:
            sql += " AND policy_domain = ?"
            args.append(policy_domain)
        sql += " ORDER BY id"
        return [self._evaluation(r) for r in self.conn.execute(sql, args)]

    def days(self) -> list[dt.date]:
        return [
            dt.date.fromisoformat(r[0])
            for r in self.conn.execute("SELECT DISTINCT day FROM evaluation ORDER BY day")
        ]

    def delete(self, ids: Sequence[int]) -> int:
        n = 0
        with transaction(self.conn):
            for i in range(0, len(ids), 500):
                chunk = list(ids[i : i + 500])
                marks = ",".join("?" * len(chunk))
                n += self.conn.execute(
                    f"DELETE FROM evaluation WHERE id IN ({marks})", chunk
                ).rowcount
        return n

    def delete_older_than(self, day: dt.date) -> int:
        return self.conn.execute(
            "DELETE FROM evaluation WHERE day < ?", (day.isoformat(),)
        ).rowcount

    # Report intervals (RFC 7489 §6.3 ri=).

    def last_report_end(self, policy_domain: str) -> dt.datetime | None:
        r = self.conn.execute(
            "SELECT period_end FROM last_report WHERE policy_domain = ?", (policy_domain,)
        ).fetchone()
        return None if r is None else dt.datetime.fromisoformat(r[0])

    def set_last_report_end(self, policy_domain: str, end: dt.datetime) -> None:
        self.conn.execute(
            "INSERT INTO last_report (policy_domain, period_end) VALUES (?, ?)"
            " ON CONFLICT(policy_domain) DO UPDATE SET period_end = excluded.period_end",
            (policy_domain, _iso(end)),
        )

    # The suppression list: postel.suppressions.SuppressionList.

    def _suppression_db(self) -> sqlite3.Connection:
        return self.conn
