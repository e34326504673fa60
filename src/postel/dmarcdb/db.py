"""dmarcrpt.db: storing received DMARC aggregate reports and querying them."""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from postel.db import check_page, open_db, transaction
from postel.dmarcdb.columns import (
    counts_at,
    iso_time,
    record_values,
    report_values,
    stored_report,
)
from postel.dmarcdb.errors import DMARCDBArgumentError, DMARCDBError
from postel.dmarcdb.model import (
    AddResult,
    DayTotal,
    FailingRecord,
    OrgTotal,
    Page,
    StoredReport,
)
from postel.dmarcdb.schema import MIGRATIONS
from postel.dmarcrpt import Report
from postel.reportstore import ReportStore, day_clauses, domain_key, window_clauses

log = logging.getLogger("postel.dmarcdb")

MAX_PAGE = 1000

_COLUMNS = (
    "r.id, r.received, r.from_addr, r.to_rcpt, r.organization, r.report_id, r.domain, "
    "r.format, r.begin, r.end, r.record_count, r.message_count, r.dkim_pass, r.dkim_fail, "
    "r.spf_pass, r.spf_fail, r.dmarc_pass, r.dmarc_fail, r.warnings, r.message_ref"
)
_SUMS = (
    "coalesce(sum(r.message_count), 0), coalesce(sum(r.dkim_pass), 0), "
    "coalesce(sum(r.dkim_fail), 0), coalesce(sum(r.spf_pass), 0), coalesce(sum(r.spf_fail), 0), "
    "coalesce(sum(r.dmarc_pass), 0), coalesce(sum(r.dmarc_fail), 0)"
)


class DMARCDB(ReportStore[StoredReport]):
    """The database of received DMARC aggregate reports. Use :func:`open`."""

    columns = _COLUMNS
    closed_error = DMARCDBError

    def add(
        self,
        report: Report,
        *,
        warnings: list[str] | None = None,
        from_addr: str = "",
        to_rcpt: str = "",
        message_ref: str = "",
        received: datetime | None = None,
    ) -> AddResult:
        """Store a report; a further copy of a stored one is recorded as a duplicate."""
        md = report.metadata
        when = iso_time(received or datetime.now(UTC))
        try:
            with transaction(self.conn):
                stored = self._add_if_duplicate(
                    "organization = ? AND report_id = ? AND domain = ?",
                    (md.org_name, md.report_id, domain_key(report.policy_published.domain)),
                    when, from_addr, to_rcpt, message_ref,
                )  # fmt: skip
                if stored is not None:
                    return stored
                cur = self.conn.execute(
                    "INSERT INTO report (received, from_addr, to_rcpt, organization, report_id, "
                    "domain, format, begin, end, day, record_count, message_count, dkim_pass, "
                    "dkim_fail, spf_pass, spf_fail, dmarc_pass, dmarc_fail, json, warnings, "
                    "message_ref) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                    "?, ?, ?)",
                    report_values(
                        report,
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
                    "INSERT INTO record (report, idx, source_ip, count, disposition, dkim, spf, "
                    "header_from) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    record_values(rid, report),
                )
        except sqlite3.Error as e:
            raise DMARCDBError(f"{self.path}: storing report {md.report_id!r}: {e}") from e
        log.debug("report stored", extra={"id": rid, "org": md.org_name})
        return AddResult(int(rid))

    @staticmethod
    def _row(row: sqlite3.Row, *, with_json: bool, duplicates: int = 0) -> StoredReport:
        return stored_report(row, with_json=with_json, duplicates=duplicates)

    def list_reports(self, *, domain: str | None = None, limit: int = 50, offset: int = 0) -> Page:
        """Reports newest first (by begin of the date range, then id)."""
        check_page(limit, offset, MAX_PAGE, DMARCDBArgumentError)
        where, args = ("", [])
        if domain:
            where, args = " WHERE r.domain = ?", [domain_key(domain)]
        total = int(self.conn.execute(f"SELECT count(*) FROM report r{where}", args).fetchone()[0])
        rows = self.conn.execute(
            f"SELECT {_COLUMNS} FROM report r{where} ORDER BY r.begin DESC, r.id DESC "
            "LIMIT ? OFFSET ?",
            [*args, limit, offset],
        ).fetchall()
        return Page([self._row(r, with_json=False) for r in rows], total)

    def find(self, organization: str, report_id: str) -> list[StoredReport]:
        rows = self.conn.execute(
            "SELECT id FROM report WHERE organization = ? AND report_id = ? ORDER BY id",
            (organization, report_id),
        ).fetchall()
        found = [self.get(int(r[0])) for r in rows]
        return [r for r in found if r is not None]

    def daily_totals(
        self, *, domain: str | None = None, since: str | None = None, until: str | None = None
    ) -> list[DayTotal]:
        """Sums per UTC day of the report's begin, oldest first (since/until inclusive)."""
        where, args = day_clauses("r.domain = ?", domain, since, until)
        rows = self.conn.execute(
            f"SELECT r.day, count(*), {_SUMS} FROM report r{where} GROUP BY r.day ORDER BY r.day",
            args,
        ).fetchall()
        return [DayTotal(r[0], int(r[1]), counts_at(r, 2)) for r in rows]

    def organization_totals(self, *, domain: str | None = None) -> list[OrgTotal]:
        where, args = ("", [])
        if domain:
            where, args = " WHERE r.domain = ?", [domain_key(domain)]
        rows = self.conn.execute(
            f"SELECT r.organization, count(*), {_SUMS} FROM report r{where} "
            "GROUP BY r.organization ORDER BY sum(r.message_count) DESC, r.organization",
            args,
        ).fetchall()
        return [OrgTotal(r[0], int(r[1]), counts_at(r, 2)) for r in rows]

    def failing_records(
        self,
        *,
        day_since: str | None = None,
        received_since: str | None = None,
        received_until: str | None = None,
        report: int | None = None,
        limit: int = 2000,
    ) -> list[FailingRecord]:
        """Report rows whose messages failed DMARC (neither DKIM nor SPF passed
        aligned, RFC 7489 §6.6.2), newest report first. *day_since*: YYYY-MM-DD
        of the report's begin, inclusive; *received_since*/*until*: a prefix such
        as 2026-12-05T00:00:00, since inclusive, until not; *report*: of that
        stored report only."""
        clauses, args = window_clauses(day_since, received_since, received_until)
        clauses.insert(0, "lower(c.dkim) != 'pass' AND lower(c.spf) != 'pass'")
        if report is not None:
            clauses.append("r.id = ?")
            args.append(report)
        rows = self.conn.execute(
            "SELECT r.id, r.organization, r.domain, r.day, c.source_ip, c.count, c.disposition,"
            " c.dkim, c.spf, c.header_from FROM report r JOIN record c ON c.report = r.id"
            f" WHERE {' AND '.join(clauses)} ORDER BY r.begin DESC, r.id DESC, c.idx LIMIT ?",
            [*args, limit],
        ).fetchall()
        return [
            FailingRecord(int(r[0]), r[1], r[2], r[3], r[4], int(r[5]), r[6], r[7], r[8], r[9])
            for r in rows
        ]

    def domains(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT DISTINCT domain FROM report ORDER BY 1")]


def open(path: Path, *, readonly: bool = False) -> DMARCDB:
    """Open (creating and migrating) dmarcrpt.db at *path*."""
    return DMARCDB(open_db(Path(path), MIGRATIONS, readonly=readonly), Path(path))
