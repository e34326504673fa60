"""Storage of outgoing TLS results and the report suppression list."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path

from postel.columns import col_str
from postel.db import open_db, transaction
from postel.suppressions import SuppressionList
from postel.tlsrptresultdb.columns import result_row, results_obj
from postel.tlsrptresultdb.record import AttemptResults, ResultRow, merge_row, merged_attempts

MIGRATIONS: list[str] = [
    """
    CREATE TABLE result (
        id INTEGER PRIMARY KEY,
        policy_domain TEXT NOT NULL,
        day TEXT NOT NULL,
        recipient_domain TEXT NOT NULL,
        is_host INTEGER NOT NULL,
        send_report INTEGER NOT NULL,
        created TEXT NOT NULL,
        updated TEXT NOT NULL,
        sent_to_recipient_domain INTEGER NOT NULL DEFAULT 0,
        recipient_domain_reporting_addresses TEXT NOT NULL DEFAULT '[]',
        sent_to_policy_domain INTEGER NOT NULL DEFAULT 0,
        results TEXT NOT NULL,
        UNIQUE (policy_domain, day, recipient_domain)
    );
    CREATE INDEX result_day ON result (day);
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


class ResultDB(SuppressionList):
    """tlsrptresult.db: open with :meth:`open`, close with :meth:`close`."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path
        # The delivery's recorder writes from worker threads; one writer at a time.
        self.lock = threading.RLock()

    @classmethod
    def open(cls, path: Path, *, readonly: bool = False) -> ResultDB:
        return cls(open_db(path, MIGRATIONS, readonly=readonly), path)

    def close(self) -> None:
        self.conn.close()

    # Results.

    def add_attempt(
        self, attempt: AttemptResults, *, send_report: bool, now: dt.datetime | None = None
    ) -> list[ResultRow]:
        """Merge one delivery attempt's results into the stored rows."""
        return self.add_attempts([(attempt, send_report)], now=now)

    def add_attempts(
        self, attempts: Sequence[tuple[AttemptResults, bool]], *, now: dt.datetime | None = None
    ) -> list[ResultRow]:
        """Merge several attempts' results (with their send_report) in one transaction."""
        now = now or dt.datetime.now(dt.UTC)
        day = now.astimezone(dt.UTC).date()
        out: list[ResultRow] = []
        with self.lock, transaction(self.conn):
            rows = merged_attempts(attempts, day)
            for row in rows.values():
                existing = self._get(row.policy_domain, day, row.recipient_domain)
                if existing is not None:
                    merged = merge_row(existing, row)
                    self.conn.execute(
                        "UPDATE result SET send_report = ?, updated = ?, results = ?"
                        " WHERE policy_domain = ? AND day = ? AND recipient_domain = ?",
                        (
                            int(merged.send_report),
                            _iso(now),
                            self._dump(merged),
                            merged.policy_domain,
                            day.isoformat(),
                            merged.recipient_domain,
                        ),
                    )
                    out.append(merged)
                else:
                    self.conn.execute(
                        "INSERT INTO result (policy_domain, day, recipient_domain, is_host,"
                        " send_report, created, updated, results) VALUES (?,?,?,?,?,?,?,?)",
                        (
                            row.policy_domain,
                            day.isoformat(),
                            row.recipient_domain,
                            int(row.is_host),
                            int(row.send_report),
                            _iso(now),
                            _iso(now),
                            self._dump(row),
                        ),
                    )
                    row.created = row.updated = now
                    out.append(row)
        return out

    @staticmethod
    def _dump(row: ResultRow) -> str:
        return json.dumps(results_obj(row), sort_keys=True)

    @staticmethod
    def _row(r: sqlite3.Row) -> ResultRow:
        return result_row(
            r.__getitem__,
            day=lambda v: dt.date.fromisoformat(col_str(v)),
            when=lambda v: dt.datetime.fromisoformat(col_str(v)),
            obj=lambda v: json.loads(col_str(v)),
        )

    def _get(self, policy_domain: str, day: dt.date, recipient_domain: str) -> ResultRow | None:
        with self.lock:
            r = self.conn.execute(
                "SELECT * FROM result WHERE policy_domain = ? AND day = ? AND recipient_domain = ?",
                (policy_domain, day.isoformat(), recipient_domain),
            ).fetchone()
            return None if r is None else self._row(r)

    def rows(
        self, *, day: dt.date | None = None, policy_domain: str | None = None
    ) -> list[ResultRow]:
        with self.lock:
            sql, args = "SELECT * FROM result WHERE 1=1", []
            if day is not None:
                sql += " AND day = ?"
                args.append(day.isoformat())
            if policy_domain is not None:
                sql += " AND policy_domain = ?"
                args.append(policy_domain)
            sql += " ORDER BY day, policy_domain, recipient_domain"
            return [self._row(r) for r in self.conn.execute(sql, args)]

    def days(self) -> list[dt.date]:
        with self.lock:
            return [
                dt.date.fromisoformat(r[0])
                for r in self.conn.execute("SELECT DISTINCT day FROM result ORDER BY day")
            ]

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
        with self.lock:
            where = "day = ? AND policy_domain = ?"
            args: list[object] = [day.isoformat(), policy_domain]
            if recipient_domain is not None:
                where += " AND recipient_domain = ?"
                args.append(recipient_domain)
            if to_recipient_domain:
                self.conn.execute(
                    "UPDATE result SET sent_to_recipient_domain = 1,"
                    f" recipient_domain_reporting_addresses = ? WHERE {where}",
                    [json.dumps(sorted(reporting_addresses or [])), *args],
                )
            else:
                self.conn.execute(
                    f"UPDATE result SET sent_to_policy_domain = 1 WHERE {where}", args
                )

    def delete(
        self,
        day: dt.date,
        policy_domain: str | None = None,
        *,
        recipient_domain: str | None = None,
    ) -> int:
        with self.lock:
            sql, args = "DELETE FROM result WHERE day = ?", [day.isoformat()]
            if policy_domain is not None:
                sql += " AND policy_domain = ?"
                args.append(policy_domain)
            if recipient_domain is not None:
                sql += " AND recipient_domain = ?"
                args.append(recipient_domain)
            return self.conn.execute(sql, args).rowcount

    def delete_older_than(self, day: dt.date) -> int:
        with self.lock:
            cur = self.conn.execute("DELETE FROM result WHERE day < ?", (day.isoformat(),))
            return cur.rowcount

    # The suppression list (docs/tls-reporting.md, Suppression): postel.suppressions.

    def _suppression_db(self) -> sqlite3.Connection:
        return self.conn

    def _suppression_lock(self) -> AbstractContextManager[object]:
        return self.lock
