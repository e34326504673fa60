"""dmarcrpt.db: storing received DMARC aggregate reports and querying them."""

from __future__ import annotations

import json
import logging
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from postel.db import check_page, open_db, transaction
from postel.dmarcdb.counts import report_counts
from postel.dmarcdb.errors import DMARCDBArgumentError, DMARCDBError
from postel.dmarcdb.model import (
    AddResult,
    Counts,
    DayTotal,
    FailingRecord,
    OrgTotal,
    Page,
    StoredReport,
)
from postel.dmarcdb.schema import MIGRATIONS
from postel.dmarcrpt import Report
from postel.reportstore import ReportStore, domain_key, window_clauses

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


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _day(epoch: int) -> str:
    try:
        return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d")
    except (OverflowError, OSError, ValueError):
        return "9999-12-31"


def _counts(row: sqlite3.Row, start: int) -> Counts:
    return Counts(*(int(row[start + i]) for i in range(7)))


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
        domain = domain_key(report.policy_published.domain)
        when = _iso(received or datetime.now(UTC))
        c = report_counts(report)
        try:
            with transaction(self.conn):
                stored = self._add_if_duplicate(
                    "organization = ? AND report_id = ? AND domain = ?",
                    (md.org_name, md.report_id, domain),
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
                    (
                        when,
                        from_addr,
                        to_rcpt,
                        md.org_name,
                        md.report_id,
                        domain,
                        report.format,
                        md.date_range.begin,
                        md.date_range.end,
                        _day(md.date_range.begin),
                        len(report.records),
                        c.messages,
                        c.dkim_pass,
                        c.dkim_fail,
                        c.spf_pass,
                        c.spf_fail,
                        c.dmarc_pass,
                        c.dmarc_fail,
                        report.to_json(indent=None),
                        json.dumps(list(warnings or []), ensure_ascii=False),
                        message_ref,
                    ),
                )
                rid = cur.lastrowid
                assert rid is not None
                self.conn.executemany(
                    "INSERT INTO record (report, idx, source_ip, count, disposition, dkim, spf, "
                    "header_from) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (
                            rid,
                            i,
                            r.row.source_ip,
                            r.row.count,
                            r.row.policy_evaluated.disposition,
                            r.row.policy_evaluated.dkim,
                            r.row.policy_evaluated.spf,
                            r.identifiers.header_from,
                        )
                        for i, r in enumerate(report.records)
                    ],
                )
        except sqlite3.Error as e:
            raise DMARCDBError(f"{self.path}: storing report {md.report_id!r}: {e}") from e
        log.debug("report stored", extra={"id": rid, "org": md.org_name})
        return AddResult(int(rid))

    @staticmethod
    def _row(row: sqlite3.Row, *, with_json: bool, duplicates: int = 0) -> StoredReport:
        return StoredReport(
            id=int(row["id"]),
            received=row["received"],
            from_addr=row["from_addr"],
            to_rcpt=row["to_rcpt"],
            organization=row["organization"],
            report_id=row["report_id"],
            domain=row["domain"],
            format=row["format"],
            begin=int(row["begin"]),
            end=int(row["end"]),
            record_count=int(row["record_count"]),
            counts=Counts(
                int(row["message_count"]),
                int(row["dkim_pass"]),
                int(row["dkim_fail"]),
                int(row["spf_pass"]),
                int(row["spf_fail"]),
                int(row["dmarc_pass"]),
                int(row["dmarc_fail"]),
            ),
            warnings=list(json.loads(row["warnings"] or "[]")),
            message_ref=row["message_ref"],
            json=row["json"] if with_json else "",
            duplicates=duplicates,
        )

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
        clauses: list[str] = []
        args: list[object] = []
        if domain:
            clauses.append("r.domain = ?")
            args.append(domain_key(domain))
        if since:
            clauses.append("r.day >= ?")
            args.append(since)
        if until:
            clauses.append("r.day <= ?")
            args.append(until)
        where = " WHERE " + " AND ".join(clauses) if clauses else ""
        rows = self.conn.execute(
            f"SELECT r.day, count(*), {_SUMS} FROM report r{where} GROUP BY r.day ORDER BY r.day",
            args,
        ).fetchall()
        return [DayTotal(r[0], int(r[1]), _counts(r, 2)) for r in rows]

    def organization_totals(self, *, domain: str | None = None) -> list[OrgTotal]:
        where, args = ("", [])
        if domain:
            where, args = " WHERE r.domain = ?", [domain_key(domain)]
        rows = self.conn.execute(
            f"SELECT r.organization, count(*), {_SUMS} FROM report r{where} "
            "GROUP BY r.organization ORDER BY sum(r.message_count) DESC, r.organization",
            args,
        ).fetchall()
        return [OrgTotal(r[0], int(r[1]), _counts(r, 2)) for r in rows]

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
