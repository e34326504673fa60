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

import json
import logging
from datetime import UTC, datetime

import psycopg

from postel.db import check_page
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
from postel.tlsrpt import Report
from postel.tlsrpt.report import format_datetime
from postel.tlsrptdb.db import KINDS, MAX_PAGE
from postel.tlsrptdb.errors import TLSRPTDBArgumentError
from postel.tlsrptdb.model import AddResult, DayTotal, OrgTotal, Page, StoredReport

log = logging.getLogger("postel.pg")

_COLUMNS = (
    "r.id, r.received, r.from_addr, r.to_rcpt, r.kind, r.organization, r.report_id, "
    "r.contact_info, r.period_start, r.period_end, r.policy_domains, r.successes, "
    "r.failures, r.warnings, r.message_ref"
)


def _stored(r: Row, *, with_json: bool, duplicates: int = 0) -> StoredReport:
    return StoredReport(
        id=col_int(r[0]),
        received=col_str(r[1]),
        from_addr=col_str(r[2]),
        to_rcpt=col_str(r[3]),
        kind=col_str(r[4]),
        organization=col_str(r[5]),
        report_id=col_str(r[6]),
        contact_info=col_str(r[7]),
        start=col_str(r[8]),
        end=col_str(r[9]),
        policy_domains=[d for d in col_str(r[10]).split("\n") if d],
        successes=col_int(r[11]),
        failures=col_int(r[12]),
        warnings=[str(w) for w in json.loads(col_str(r[13]) or "[]")],
        message_ref=col_str(r[14]),
        json=col_str(r[15]) if with_json else "",
        duplicates=duplicates,
    )


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise TLSRPTDBArgumentError(f"kind {kind!r}: expected one of {', '.join(KINDS)}")


class PgTLSReports:
    """The shared received TLS reports over *db*; :meth:`close` leaves the
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
        kind: str = "domain",
        warnings: list[str] | None = None,
        from_addr: str = "",
        to_rcpt: str = "",
        message_ref: str = "",
        received: datetime | None = None,
    ) -> AddResult:
        _check_kind(kind)
        when = format_datetime(received or datetime.now(UTC))
        key = ident(report.organization_name, report.report_id)
        start = format_datetime(report.date_range.start)
        domains = [domain_key(d) for d in report.policy_domains()]
        try:
            with self._db.connection() as conn, conn.transaction():
                row = conn.execute(
                    "INSERT INTO tlsrpt_report (ident, received, from_addr, to_rcpt, kind,"
                    " organization, report_id, contact_info, period_start, period_end, day,"
                    " policy_domains, successes, failures, data, warnings, message_ref)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                    " ON CONFLICT (ident) DO NOTHING RETURNING id",
                    (
                        key,
                        when,
                        from_addr,
                        to_rcpt,
                        kind,
                        report.organization_name,
                        report.report_id,
                        report.contact_info,
                        start,
                        format_datetime(report.date_range.end),
                        start[:10],
                        "\n".join(domains),
                        report.total_successes(),
                        report.total_failures(),
                        report.to_json(indent=None),
                        json.dumps(list(warnings or []), ensure_ascii=False),
                        message_ref,
                    ),
                ).fetchone()
                if row is None:
                    return add_duplicate(
                        conn, "tlsrpt_duplicate", "tlsrpt_report", key,
                        when, from_addr, to_rcpt, message_ref,
                    )  # fmt: skip
                rid = col_int(row[0])
                with conn.cursor() as cur:
                    cur.executemany(
                        "INSERT INTO tlsrpt_policy (report, idx, domain, policy_type, successes,"
                        " failures) VALUES (%s, %s, %s, %s, %s, %s)",
                        [
                            (
                                rid,
                                i,
                                domain_key(p.policy.policy_domain),
                                str(p.policy.policy_type),
                                p.summary.total_successful_session_count,
                                p.summary.total_failure_session_count,
                            )
                            for i, p in enumerate(report.policies)
                        ],
                    )
        except psycopg.Error as e:
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise PgReportStoreError(
                f"{self.where}: storing TLS report {report.report_id[:80]!r}: {first[:200]}"
            ) from None
        log.debug("report stored", extra={"id": rid, "org": report.organization_name})
        return AddResult(rid)

    def get(self, report_id: int) -> StoredReport | None:
        with self._db.connection() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS}, r.data FROM tlsrpt_report r WHERE r.id = %s".encode(),
                (report_id,),
            ).fetchone()
            if row is None:
                return None
            dups = conn.execute(
                "SELECT count(*) FROM tlsrpt_duplicate WHERE report = %s", (report_id,)
            ).fetchone()
        return _stored(row, with_json=True, duplicates=0 if dups is None else col_int(dups[0]))

    def find(self, organization: str, report_id: str) -> StoredReport | None:
        with self._db.connection() as conn:
            row = conn.execute(
                "SELECT id FROM tlsrpt_report WHERE ident = %s", (ident(organization, report_id),)
            ).fetchone()
        return None if row is None else self.get(col_int(row[0]))

    def delete(self, report_id: int) -> bool:
        with self._db.connection() as conn:
            cur = conn.execute("DELETE FROM tlsrpt_report WHERE id = %s", (report_id,))
            return cur.rowcount > 0

    def count(self) -> int:
        with self._db.connection() as conn:
            return count(conn, "tlsrpt_report")

    def duplicate_count(self) -> int:
        with self._db.connection() as conn:
            return count(conn, "tlsrpt_duplicate")

    @staticmethod
    def _filter(domain: str | None, kind: str | None) -> tuple[str, list[object]]:
        clauses: list[str] = []
        args: list[object] = []
        if domain:
            clauses.append("r.id IN (SELECT report FROM tlsrpt_policy WHERE domain = %s)")
            args.append(domain_key(domain))
        if kind:
            _check_kind(kind)
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
        with self._db.connection() as conn:
            total = conn.execute(
                f"SELECT count(*) FROM tlsrpt_report r{where}".encode(), args
            ).fetchone()
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM tlsrpt_report r{where}"
                " ORDER BY r.period_start DESC, r.id DESC LIMIT %s OFFSET %s".encode(),
                [*args, limit, offset],
            ).fetchall()
        return Page(
            [_stored(r, with_json=False) for r in rows],
            0 if total is None else col_int(total[0]),
        )

    def daily_totals(
        self, *, domain: str | None = None, since: str | None = None, until: str | None = None
    ) -> list[DayTotal]:
        """Sums per day (UTC day of start-datetime), oldest first; *since*/*until*
        inclusive, as tlsrpt.db."""
        clauses: list[str] = []
        args: list[object] = []
        for clause, value in (
            ("p.domain = %s", domain_key(domain) if domain else None),
            ("r.day >= %s", since),
            ("r.day <= %s", until),
        ):
            if value:
                clauses.append(clause)
                args.append(value)
        where = " WHERE " + " AND ".join(clauses) if clauses else ""
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
        return [_stored(r, with_json=True) for r in rows]
