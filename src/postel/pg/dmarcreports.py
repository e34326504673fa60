"""The received DMARC aggregate reports (RFC 7489 §7.2) of every node in
PostgreSQL: a postel.dmarcdb.api.ReceivedDMARCReports, stored and queried as
the node's dmarcrpt.db does (same duplicates rule, same sums and orders).

Synchronous over a source of connections (postel.pg.received), as
postel.pg.tlsreports; copies of one report taken in by two nodes at once are
stored once, the later one recorded as a duplicate.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import psycopg

from postel.db import check_page
from postel.dmarcdb.counts import report_counts
from postel.dmarcdb.db import MAX_PAGE, _day, _iso
from postel.dmarcdb.errors import DMARCDBArgumentError
from postel.dmarcdb.model import (
    AddResult,
    Counts,
    DayTotal,
    FailingRecord,
    OrgTotal,
    Page,
    StoredReport,
)
from postel.dmarcrpt import Report
from postel.pg.received import (
    Connections,
    PgReportStoreError,
    add_duplicate,
    col_int,
    col_str,
    count,
    ident,
    pg_window,
)
from postel.pg.rows import Row
from postel.reportstore import domain_key

log = logging.getLogger("postel.pg")

_COLUMNS = (
    "r.id, r.received, r.from_addr, r.to_rcpt, r.organization, r.report_id, r.domain, "
    "r.format, r.period_begin, r.period_end, r.record_count, r.message_count, r.dkim_pass, "
    "r.dkim_fail, r.spf_pass, r.spf_fail, r.dmarc_pass, r.dmarc_fail, r.warnings, r.message_ref"
)
_SUMS = ", ".join(
    f"coalesce(sum(r.{c}), 0)::bigint"
    for c in (
        "message_count",
        "dkim_pass",
        "dkim_fail",
        "spf_pass",
        "spf_fail",
        "dmarc_pass",
        "dmarc_fail",
    )
)


def _counts(r: Row, start: int) -> Counts:
    return Counts(*(col_int(r[start + i]) for i in range(7)))


def _stored(r: Row, *, with_json: bool, duplicates: int = 0) -> StoredReport:
    return StoredReport(
        id=col_int(r[0]),
        received=col_str(r[1]),
        from_addr=col_str(r[2]),
        to_rcpt=col_str(r[3]),
        organization=col_str(r[4]),
        report_id=col_str(r[5]),
        domain=col_str(r[6]),
        format=col_str(r[7]),
        begin=col_int(r[8]),
        end=col_int(r[9]),
        record_count=col_int(r[10]),
        counts=_counts(r, 11),
        warnings=[str(w) for w in json.loads(col_str(r[18]) or "[]")],
        message_ref=col_str(r[19]),
        json=col_str(r[20]) if with_json else "",
        duplicates=duplicates,
    )


class PgDMARCReports:
    """The shared received DMARC reports over *db*; :meth:`close` leaves the
    connections to whoever opened them."""

    def __init__(self, db: Connections, where: str = "PostgreSQL") -> None:
        self._db = db
        self.where = where

    def close(self) -> None:
        pass

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
        md = report.metadata
        domain = domain_key(report.policy_published.domain)
        when = _iso(received or datetime.now(UTC))
        key = ident(md.org_name, md.report_id, domain)
        c = report_counts(report)
        try:
            with self._db.connection() as conn, conn.transaction():
                row = conn.execute(
                    "INSERT INTO dmarc_report (ident, received, from_addr, to_rcpt, organization,"
                    " report_id, domain, format, period_begin, period_end, day, record_count,"
                    " message_count, dkim_pass, dkim_fail, spf_pass, spf_fail, dmarc_pass,"
                    " dmarc_fail, data, warnings, message_ref) VALUES (%s, %s, %s, %s, %s, %s,"
                    " %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                    " ON CONFLICT (ident) DO NOTHING RETURNING id",
                    (
                        key,
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
                ).fetchone()
                if row is None:
                    return add_duplicate(
                        conn, "dmarc_duplicate", "dmarc_report", key,
                        when, from_addr, to_rcpt, message_ref,
                    )  # fmt: skip
                rid = col_int(row[0])
                with conn.cursor() as cur:
                    cur.executemany(
                        "INSERT INTO dmarc_record (report, idx, source_ip, count, disposition,"
                        " dkim, spf, header_from) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
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
        except psycopg.Error as e:
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise PgReportStoreError(
                f"{self.where}: storing DMARC report {md.report_id[:80]!r}: {first[:200]}"
            ) from None
        log.debug("report stored", extra={"id": rid, "org": md.org_name})
        return AddResult(rid)

    def get(self, report_id: int) -> StoredReport | None:
        with self._db.connection() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS}, r.data FROM dmarc_report r WHERE r.id = %s".encode(),
                (report_id,),
            ).fetchone()
            if row is None:
                return None
            dups = conn.execute(
                "SELECT count(*) FROM dmarc_duplicate WHERE report = %s", (report_id,)
            ).fetchone()
        return _stored(row, with_json=True, duplicates=0 if dups is None else col_int(dups[0]))

    def find(self, organization: str, report_id: str) -> list[StoredReport]:
        with self._db.connection() as conn:
            rows = conn.execute(
                "SELECT id FROM dmarc_report WHERE organization = %s AND report_id = %s"
                " ORDER BY id",
                (organization, report_id),
            ).fetchall()
        found = [self.get(col_int(r[0])) for r in rows]
        return [r for r in found if r is not None]

    def delete(self, report_id: int) -> bool:
        with self._db.connection() as conn:
            cur = conn.execute("DELETE FROM dmarc_report WHERE id = %s", (report_id,))
            return cur.rowcount > 0

    def count(self) -> int:
        with self._db.connection() as conn:
            return count(conn, "dmarc_report")

    def duplicate_count(self) -> int:
        with self._db.connection() as conn:
            return count(conn, "dmarc_duplicate")

    def list_reports(self, *, domain: str | None = None, limit: int = 50, offset: int = 0) -> Page:
        """Reports newest first (by begin of the date range, then id)."""
        check_page(limit, offset, MAX_PAGE, DMARCDBArgumentError)
        where, args = ("", [])
        if domain:
            where, args = " WHERE r.domain = %s", [domain_key(domain)]
        with self._db.connection() as conn:
            total = conn.execute(
                f"SELECT count(*) FROM dmarc_report r{where}".encode(), args
            ).fetchone()
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM dmarc_report r{where}"
                " ORDER BY r.period_begin DESC, r.id DESC LIMIT %s OFFSET %s".encode(),
                [*args, limit, offset],
            ).fetchall()
        return Page(
            [_stored(r, with_json=False) for r in rows],
            0 if total is None else col_int(total[0]),
        )

    def daily_totals(
        self, *, domain: str | None = None, since: str | None = None, until: str | None = None
    ) -> list[DayTotal]:
        """Sums per UTC day of the report's begin, oldest first (since/until inclusive)."""
        clauses: list[str] = []
        args: list[object] = []
        for clause, value in (
            ("r.domain = %s", domain_key(domain) if domain else None),
            ("r.day >= %s", since),
            ("r.day <= %s", until),
        ):
            if value:
                clauses.append(clause)
                args.append(value)
        where = " WHERE " + " AND ".join(clauses) if clauses else ""
        with self._db.connection() as conn:
            rows = conn.execute(
                f"SELECT r.day, count(*), {_SUMS} FROM dmarc_report r{where}"
                " GROUP BY r.day ORDER BY r.day".encode(),
                args,
            ).fetchall()
        return [DayTotal(col_str(r[0]), col_int(r[1]), _counts(r, 2)) for r in rows]

    def organization_totals(self, *, domain: str | None = None) -> list[OrgTotal]:
        where, args = ("", [])
        if domain:
            where, args = " WHERE r.domain = %s", [domain_key(domain)]
        with self._db.connection() as conn:
            rows = conn.execute(
                f"SELECT r.organization, count(*), {_SUMS} FROM dmarc_report r{where}"
                " GROUP BY r.organization ORDER BY sum(r.message_count) DESC, r.organization"
                "".encode(),
                args,
            ).fetchall()
        return [OrgTotal(col_str(r[0]), col_int(r[1]), _counts(r, 2)) for r in rows]

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
        aligned, RFC 7489 §6.6.2), newest report first (as dmarcrpt.db's)."""
        clauses, args = pg_window(day_since, received_since, received_until)
        clauses.insert(0, "lower(c.dkim) != 'pass' AND lower(c.spf) != 'pass'")
        if report is not None:
            clauses.append("r.id = %s")
            args.append(report)
        with self._db.connection() as conn:
            rows = conn.execute(
                "SELECT r.id, r.organization, r.domain, r.day, c.source_ip, c.count,"
                " c.disposition, c.dkim, c.spf, c.header_from FROM dmarc_report r"
                " JOIN dmarc_record c ON c.report = r.id"
                f" WHERE {' AND '.join(clauses)}"
                " ORDER BY r.period_begin DESC, r.id DESC, c.idx LIMIT %s".encode(),
                [*args, limit],
            ).fetchall()
        return [
            FailingRecord(
                col_int(r[0]),
                col_str(r[1]),
                col_str(r[2]),
                col_str(r[3]),
                col_str(r[4]),
                col_int(r[5]),
                col_str(r[6]),
                col_str(r[7]),
                col_str(r[8]),
                col_str(r[9]),
            )
            for r in rows
        ]

    def domains(self) -> list[str]:
        with self._db.connection() as conn:
            rows = conn.execute("SELECT DISTINCT domain FROM dmarc_report ORDER BY 1").fetchall()
        return [col_str(r[0]) for r in rows]
