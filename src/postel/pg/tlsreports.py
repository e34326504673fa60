"""The received TLS reports (RFC 8460) of every node in PostgreSQL: a
postel.tlsrptdb.api.ReceivedTLSReports, stored and queried as the node's
tlsrpt.db does (same duplicates rule, same sums and orders).

Synchronous over a source of connections (postel.pg.received): the report
intake's child process, the admin pages (in threads), the digest and the CLI
call it as they call tlsrpt.db. Two nodes taking in copies of one report at
once store it once: the second INSERT waits for the first and finds the
conflict on ident (the report's identity), then records a duplicate.
"""

from __future__ import annotations

from datetime import UTC, datetime

from postel.db import check_page
from postel.pg.received import (
    PgReceivedReports,
    col_int,
    col_str,
    ident,
    pg_window,
)
from postel.pg.rows import Row
from postel.reportstore import day_clauses, domain_key
from postel.tlsrpt import Report
from postel.tlsrpt.report import format_datetime
from postel.tlsrptdb.columns import check_kind, policy_values, report_values, stored_report
from postel.tlsrptdb.db import MAX_PAGE
from postel.tlsrptdb.errors import TLSRPTDBArgumentError
from postel.tlsrptdb.model import AddResult, DayTotal, OrgTotal, Page, StoredReport

_COLUMNS = (
    "r.id, r.received, r.from_addr, r.to_rcpt, r.kind, r.organization, r.report_id, "
    "r.contact_info, r.period_start, r.period_end, r.policy_domains, r.successes, "
    "r.failures, r.warnings, r.message_ref"
)
# The report row as postel.tlsrptdb.columns.report_values gives it.
_INSERT = (
    "received, from_addr, to_rcpt, kind, organization, report_id, contact_info,"
    " period_start, period_end, day, policy_domains, successes, failures, data, warnings,"
    " message_ref"
)


class PgTLSReports(PgReceivedReports[StoredReport]):
    """The shared received TLS reports over *db*; :meth:`close` leaves the
    connections to whoever opened them."""

    table = "tlsrpt_report"
    duplicate_table = "tlsrpt_duplicate"
    columns = _COLUMNS
    what = "TLS report"

    def _stored(self, row: Row, *, with_json: bool, duplicates: int = 0) -> StoredReport:
        return stored_report(row, with_json=with_json, duplicates=duplicates)

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
        check_kind(kind)
        when = format_datetime(received or datetime.now(UTC))
        return self._store(
            ident(report.organization_name, report.report_id),
            report_id=report.report_id,
            organization=report.organization_name,
            columns=_INSERT,
            values=report_values(
                report,
                kind=kind,
                received=when,
                warnings=warnings,
                from_addr=from_addr,
                to_rcpt=to_rcpt,
                message_ref=message_ref,
            ),
            copy=(when, from_addr, to_rcpt, message_ref),
            children="INSERT INTO tlsrpt_policy (report, idx, domain, policy_type, successes,"
            " failures) VALUES (%s, %s, %s, %s, %s, %s)",
            child_rows=lambda rid: policy_values(rid, report),
        )

    def find(self, organization: str, report_id: str) -> StoredReport | None:
        with self._db.connection() as conn:
            row = conn.execute(
                "SELECT id FROM tlsrpt_report WHERE ident = %s", (ident(organization, report_id),)
            ).fetchone()
        return None if row is None else self.get(col_int(row[0]))

    @staticmethod
    def _filter(domain: str | None, kind: str | None) -> tuple[str, list[object]]:
        clauses: list[str] = []
        args: list[object] = []
        if domain:
            clauses.append("r.id IN (SELECT report FROM tlsrpt_policy WHERE domain = %s)")
            args.append(domain_key(domain))
        if kind:
            check_kind(kind)
            clauses.append("r.kind = %s")
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
        return Page(*self._page(where, args, "r.period_start DESC, r.id DESC", limit, offset))

    def daily_totals(
        self, *, domain: str | None = None, since: str | None = None, until: str | None = None
    ) -> list[DayTotal]:
        """Sums per day (UTC day of start-datetime), oldest first; *since*/*until*
        inclusive, as tlsrpt.db."""
        where, args = day_clauses("p.domain = ?", domain, since, until)
        where = where.replace("?", "%s")
        with self._db.connection() as conn:
            rows = conn.execute(
                "SELECT r.day, count(DISTINCT r.id), coalesce(sum(p.successes), 0)::bigint,"
                " coalesce(sum(p.failures), 0)::bigint FROM tlsrpt_report r"
                f" JOIN tlsrpt_policy p ON p.report = r.id{where}"
                " GROUP BY r.day ORDER BY r.day".encode(),
                args,
            ).fetchall()
        return [DayTotal(col_str(r[0]), col_int(r[1]), col_int(r[2]), col_int(r[3])) for r in rows]

    def organization_totals(self, *, domain: str | None = None) -> list[OrgTotal]:
        """Sums per reporting organization, most sessions first."""
        where, args = ("", [])
        if domain:
            where, args = " WHERE p.domain = %s", [domain_key(domain)]
        with self._db.connection() as conn:
            rows = conn.execute(
                "SELECT r.organization, count(DISTINCT r.id),"
                " coalesce(sum(p.successes), 0)::bigint, coalesce(sum(p.failures), 0)::bigint"
                f" FROM tlsrpt_report r JOIN tlsrpt_policy p ON p.report = r.id{where}"
                " GROUP BY r.organization"
                " ORDER BY sum(p.successes + p.failures) DESC, r.organization".encode(),
                args,
            ).fetchall()
        return [OrgTotal(col_str(r[0]), col_int(r[1]), col_int(r[2]), col_int(r[3])) for r in rows]

    def failing(
        self,
        *,
        day_since: str | None = None,
        received_since: str | None = None,
        received_until: str | None = None,
        limit: int = 500,
    ) -> list[StoredReport]:
        """Reports with failed sessions, with their JSON, newest first (the
        window as tlsrpt.db's)."""
        clauses, args = pg_window(day_since, received_since, received_until)
        clauses.insert(0, "r.failures > 0")
        with self._db.connection() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS}, r.data FROM tlsrpt_report r WHERE {' AND '.join(clauses)}"
                " ORDER BY r.period_start DESC, r.id DESC LIMIT %s".encode(),
                [*args, limit],
            ).fetchall()
        return [self._stored(r, with_json=True) for r in rows]
