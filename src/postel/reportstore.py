"""What the databases of received reports share (postel.dmarcdb, postel.tlsrptdb).

Each has a ``report`` table, one row per stored report (with its ``json``), and a
``duplicate`` table recording further copies of a stored report (``report`` names it;
rows go with the report on delete).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import ClassVar, Generic, TypeVar

from postel.db import Handle, transaction

T = TypeVar("T")


def window_clauses(
    day_since: str | None, received_since: str | None, received_until: str | None
) -> tuple[list[str], list[object]]:
    """SQL conditions (on the report alias "r") and their arguments for a window:
    the report's day (YYYY-MM-DD) from *day_since*, received in
    [*received_since*, *received_until*) (prefixes such as 2026-12-05T00:00:00)."""
    clauses: list[str] = []
    args: list[object] = []
    for clause, value in (
        ("r.day >= ?", day_since),
        ("r.received >= ?", received_since),
        ("r.received < ?", received_until),
    ):
        if value:
            clauses.append(clause)
            args.append(value)
    return clauses, args


def day_clauses(
    domain_clause: str, domain: str | None, since: str | None, until: str | None
) -> tuple[str, list[object]]:
    """A WHERE (or "") and its arguments for sums per day: *domain_clause* (SQL
    with one placeholder) for *domain*, the report's day from *since* to
    *until* (YYYY-MM-DD, inclusive)."""
    clauses: list[str] = []
    args: list[object] = []
    for clause, value in (
        (domain_clause, domain_key(domain) if domain else None),
        ("r.day >= ?", since),
        ("r.day <= ?", until),
    ):
        if value:
            clauses.append(clause)
            args.append(value)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), args


def domain_key(domain: str) -> str:
    """A domain as stored and queried: trimmed, lower case, no trailing dot."""
    return domain.strip().lower().rstrip(".")


@dataclass(frozen=True)
class AddResult:
    """Outcome of storing a report: its row id and whether it was a further copy."""

    id: int
    duplicate: bool = False


class ReportStore(Handle, Generic[T]):
    """An open database of received reports; *T* is its stored-report type."""

    # The report columns _row reads, qualified with the alias "r".
    columns: ClassVar[str]

    def _row(self, row: sqlite3.Row, *, with_json: bool, duplicates: int = 0) -> T:
        raise NotImplementedError

    def _add_if_duplicate(
        self,
        where: str,
        params: tuple[object, ...],
        received: str,
        from_addr: str,
        to_rcpt: str,
        message_ref: str,
    ) -> AddResult | None:
        """In the caller's transaction: when a report matching *where* (SQL on
        the report table, with *params*) is stored, record this copy as its
        duplicate and return that result; else None."""
        row = self.conn.execute(f"SELECT id FROM report WHERE {where}", params).fetchone()
        if row is None:
            return None
        self.conn.execute(
            "INSERT INTO duplicate (report, received, from_addr, to_rcpt, "
            "message_ref) VALUES (?, ?, ?, ?, ?)",
            (row[0], received, from_addr, to_rcpt, message_ref),
        )
        return AddResult(int(row[0]), duplicate=True)

    def delete(self, report_id: int) -> bool:
        """Remove a report (and its duplicates); False when there was none."""
        with transaction(self.conn):
            cur = self.conn.execute("DELETE FROM report WHERE id = ?", (report_id,))
        return cur.rowcount > 0

    def get(self, report_id: int) -> T | None:
        """The stored report with its JSON and number of duplicates; None if unknown."""
        row = self.conn.execute(
            f"SELECT {self.columns}, r.json FROM report r WHERE r.id = ?", (report_id,)
        ).fetchone()
        if row is None:
            return None
        dups = self.conn.execute(
            "SELECT count(*) FROM duplicate WHERE report = ?", (report_id,)
        ).fetchone()[0]
        return self._row(row, with_json=True, duplicates=int(dups))

    def count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM report").fetchone()[0])

    def duplicate_count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM duplicate").fetchone()[0])
