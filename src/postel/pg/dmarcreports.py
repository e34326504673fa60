"""The received DMARC aggregate reports (RFC 7489 §7.2) of every node in
PostgreSQL: a postel.dmarcdb.api.ReceivedDMARCReports, stored and queried as
the node's dmarcrpt.db does (same duplicates rule, same sums and orders).

Synchronous over a source of connections (postel.pg.received), as
postel.pg.tlsreports; copies of one report taken in by two nodes at once are
stored once, the later one recorded as a duplicate.
"""

from __future__ import annotations

from datetime import UTC, datetime

from postel.db import check_page
from postel.dmarcdb.columns import (
    counts_at,
    iso_time,
    record_values,
    report_values,
    stored_report,
)
from postel.dmarcdb.db import MAX_PAGE
from postel.dmarcdb.errors import DMARCDBArgumentError
from postel.dmarcdb.model import (
    AddResult,
    DayTotal,
    FailingRecord,
    OrgTotal,
    Page,
    StoredReport,
)
from postel.dmarcrpt import Report
from postel.pg.received import (
    PgReceivedReports,
    col_int,
    col_str,
    ident,
    pg_window,
)
from postel.pg.rows import Row
from postel.reportstore import day_clauses, domain_key

_COLUMNS = (
    "r.id, r.received, r.from_addr, r.to_rcpt, r.organization, r.report_id, r.domain, "
    "r.format, r.period_begin, r.period_end, r.record_count, r.message_count, r.dkim_pass, "
    "r.dkim_fail, r.spf_pass, r.spf_fail, r.dmarc_pass, r.dmarc_fail, r.warnings, r.message_ref"
)
# The report row as postel.dmarcdb.columns.report_values gives it.
_INSERT = (
    "received, from_addr, to_rcpt, organization, report_id, domain, format, period_begin,"
    " period_end, day, record_count, message_count, dkim_pass, dkim_fail, spf_pass, spf_fail,"
    " dmarc_pass, dmarc_fail, data, warnings, message_ref"
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


class PgDMARCReports(PgReceivedReports[StoredReport]):
    """The shared received DMARC reports over *db*; :meth:`close` leaves the
    connections to whoever opened them."""

    table = "dmarc_report"
    duplicate_table = "dmarc_duplicate"
    columns = _COLUMNS
    what = "DMARC report"

    def _stored(self, row: Row, *, with_json: bool, duplicates: int = 0) -> StoredReport:
        return stored_report(row, with_json=with_json, duplicates=duplicates)

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
        when = iso_time(received or datetime.now(UTC))
        return self._store(
            ident(md.org_name, md.report_id, domain_key(report.policy_published.domain)),
            report_id=md.report_id,
            organization=md.org_name,
            columns=_INSERT,
            values=report_values(
                report,
                received=when,
                warnings=warnings,
                from_addr=from_addr,
                to_rcpt=to_rcpt,
                message_ref=message_ref,
            ),
            copy=(when, from_addr, to_rcpt, message_ref),
            children="INSERT INTO dmarc_record (report, idx, source_ip, count, disposition,"
            " dkim, spf, header_from) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            child_rows=lambda rid: record_values(rid, report),
        )

    def find(self, organization: str, report_id: str) -> list[StoredReport]:
        with self._db.connection() as conn:
            rows = conn.execute(
                "SELECT id FROM dmarc_report WHERE organization = %s AND report_id = %s"
                " ORDER BY id",
                (organization, report_id),
            ).fetchall()
        found = [self.get(col_int(r[0])) for r in rows]
        return [r for r in found if r is not None]

    def list_reports(self, *, domain: str | None = None, limit: int = 50, offset: int = 0) -> Page:
        """Reports newest first (by begin of the date range, then id)."""
        check_page(limit, offset, MAX_PAGE, DMARCDBArgumentError)
        where, args = ("", [])
        if domain:
            where, args = " WHERE r.domain = %s", [domain_key(domain)]
        return Page(*self._page(where, args, "r.period_begin DESC, r.id DESC", limit, offset))

    def daily_totals(
        self, *, domain: str | None = None, since: str | None = None, until: str | None = None
    ) -> list[DayTotal]:
        """Sums per UTC day of the report's begin, oldest first (since/until inclusive)."""
        where, args = day_clauses("r.domain = ?", domain, since, until)
        where = where.replace("?", "%s")
        with self._db.connection() as conn:
            rows = conn.execute(
                f"SELECT r.day, count(*), {_SUMS} FROM dmarc_report r{where}"
                " GROUP BY r.day ORDER BY r.day".encode(),
                args,
            ).fetchall()
        return [DayTotal(col_str(r[0]), col_int(r[1]), counts_at(r, 2)) for r in rows]

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
        return [OrgTotal(col_str(r[0]), col_int(r[1]), counts_at(r, 2)) for r in rows]

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
