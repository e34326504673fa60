"""tlsrpt.db: storing received TLS reports and querying them for the admin pages."""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from postel.db import check_page, open_db, transaction
from postel.reportstore import ReportStore, day_clauses, domain_key, window_clauses
from postel.tlsrpt import Report
from postel.tlsrpt.report import format_datetime
from postel.tlsrptdb.columns import (
    check_kind,
    policy_values,
    report_values,
    stored_report,
)
from postel.tlsrptdb.errors import TLSRPTDBArgumentError, TLSRPTDBError
from postel.tlsrptdb.model import AddResult, DayTotal, OrgTotal, Page, StoredReport
from postel.tlsrptdb.schema import MIGRATIONS

log = logging.getLogger("postel.tlsrptdb")

MAX_PAGE = 1000

_COLUMNS = (
    "r.id, r.received, r.from_addr, r.to_rcpt, r.kind, r.organization, r.report_id, "
    "r.contact_info, r.start, r.end, r.policy_domains, r.successes, r.failures, "
    "r.warnings, r.message_ref"
)


def _now() -> datetime:
    return datetime.now(UTC)


class TLSRPTDB(ReportStore[StoredReport]):
    """The database of received TLS reports. Use :func:`open`; close when done."""

    columns = _COLUMNS
    closed_error = TLSRPTDBError

    # -- writing --------------------------------------------------------------

    def add(
        self,
        report: Report,
        *,
        kind: str = "domain",
        warnings: list[str] | None = None,
        from_addr: str = "",
        to_rcpt: str = "",
        message_ref: str = "",
        received: datetime | None = None,
    ) -> AddResult:
        """Store a report. A report with an (organization, report-id) already stored
        is recorded as a duplicate of that one, not stored again."""
        check_kind(kind)
        when = format_datetime(received or _now())
        try:
            with transaction(self.conn):
                stored = self._add_if_duplicate(
                    "organization = ? AND report_id = ?",
                    (report.organization_name, report.report_id),
                    when, from_addr, to_rcpt, message_ref,
                )  # fmt: skip
                if stored is not None:
                    return stored
                cur = self.conn.execute(
                    "INSERT INTO report (received, from_addr, to_rcpt, kind, organization, "
                    "report_id, contact_info, start, end, day, policy_domains, successes, "
                    "failures, json, warnings, message_ref) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    report_values(
                        report,
                        kind=kind,
                        received=when,
                        warnings=warnings,
                        from_addr=from_addr,
                        to_rcpt=to_rcpt,
                        message_ref=message_ref,
                    ),
                )
                rid = cur.lastrowid
                assert rid is not None
                self.conn.executemany(
                    "INSERT INTO policy (report, idx, domain, policy_type, successes, failures) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    policy_values(rid, report),
                )
        except sqlite3.Error as e:
            raise TLSRPTDBError(f"{self.path}: storing report {report.report_id!r}: {e}") from e
        log.debug("report stored", extra={"id": rid, "org": report.organization_name})
        return AddResult(int(rid))

    # -- reading --------------------------------------------------------------

    @staticmethod
    def _row(row: sqlite3.Row, *, with_json: bool, duplicates: int = 0) -> StoredReport:
        return stored_report(row, with_json=with_json, duplicates=duplicates)

    @staticmethod
    def _filter(domain: str | None, kind: str | None) -> tuple[str, list[object]]:
        clauses: list[str] = []
        args: list[object] = []
        if domain:
            clauses.append("r.id IN (SELECT report FROM policy WHERE domain = ?)")
            args.append(domain_key(domain))
        if kind:
            check_kind(kind)
            clauses.append("r.kind = ?")
            args.append(kind)
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), args

    def list_reports(
        self,
        *,
        domain: str | None = None,
        kind: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Page:
        """Reports newest first (by start of the date range, then id)."""
        check_page(limit, offset, MAX_PAGE, TLSRPTDBArgumentError)
        where, args = self._filter(domain, kind)
        total = int(self.conn.execute(f"SELECT count(*) FROM report r{where}", args).fetchone()[0])
        rows = self.conn.execute(
            f"SELECT {_COLUMNS} FROM report r{where} ORDER BY r.start DESC, r.id DESC "
            "LIMIT ? OFFSET ?",
            [*args, limit, offset],
        ).fetchall()
        return Page([self._row(r, with_json=False) for r in rows], total)

    def find(self, organization: str, report_id: str) -> StoredReport | None:
        row = self.conn.execute(
            "SELECT id FROM report WHERE organization = ? AND report_id = ?",
            (organization, report_id),
        ).fetchone()
        return None if row is None else self.get(int(row[0]))

    def daily_totals(
        self, *, domain: str | None = None, since: str | None = None, until: str | None = None
    ) -> list[DayTotal]:
        """Sums per day (UTC day of start-datetime), oldest first. With *domain*, only
        that domain's policy entries count. *since*/*until*: YYYY-MM-DD, inclusive."""
        where, args = day_clauses("p.domain = ?", domain, since, until)
        rows = self.conn.execute(
            "SELECT r.day, count(DISTINCT r.id), coalesce(sum(p.successes), 0), "
            "coalesce(sum(p.failures), 0) FROM report r JOIN policy p ON p.report = r.id"
            f"{where} GROUP BY r.day ORDER BY r.day",
            args,
        ).fetchall()
        return [DayTotal(r[0], int(r[1]), int(r[2]), int(r[3])) for r in rows]

    def organization_totals(self, *, domain: str | None = None) -> list[OrgTotal]:
        """Sums per reporting organization, most sessions first."""
        where, args = ("", [])
        if domain:
            where, args = " WHERE p.domain = ?", [domain_key(domain)]
        rows = self.conn.execute(
            "SELECT r.organization, count(DISTINCT r.id), coalesce(sum(p.successes), 0) AS s, "
            "coalesce(sum(p.failures), 0) AS f FROM report r JOIN policy p ON p.report = r.id"
            f"{where} GROUP BY r.organization ORDER BY s + f DESC, r.organization",
            args,
        ).fetchall()
        return [OrgTotal(r[0], int(r[1]), int(r[2]), int(r[3])) for r in rows]

    def failing(
        self,
        *,
        day_since: str | None = None,
        received_since: str | None = None,
        received_until: str | None = None,
        limit: int = 500,
    ) -> list[StoredReport]:
        """Reports with failed sessions, with their JSON, newest first. *day_since*:
        YYYY-MM-DD of the report's start, inclusive; *received_since*/*until*: an
        RFC 3339 prefix such as 2026-12-05T00:00:00, since inclusive, until not."""
        clauses, args = window_clauses(day_since, received_since, received_until)
        clauses.insert(0, "r.failures > 0")
        rows = self.conn.execute(
            f"SELECT {_COLUMNS}, r.json FROM report r WHERE {' AND '.join(clauses)} "
            "ORDER BY r.start DESC, r.id DESC LIMIT ?",
            [*args, limit],
        ).fetchall()
        return [self._row(r, with_json=True) for r in rows]


def open(path: Path, *, readonly: bool = False) -> TLSRPTDB:
    """Open (creating and migrating) tlsrpt.db at *path*."""
    return TLSRPTDB(open_db(Path(path), MIGRATIONS, readonly=readonly), Path(path))
