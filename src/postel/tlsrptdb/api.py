"""What the parts use of the received TLS reports: the report intake adds them,
the admin pages, the daily digest and ``postel tlsrpt`` list, sum and read them.

Implemented by :class:`postel.tlsrptdb.db.TLSRPTDB` (the node's tlsrpt.db) and
postel.pg.tlsreports.PgTLSReports (shared by the nodes).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from postel.tlsrpt import Report
from postel.tlsrptdb.model import AddResult, DayTotal, OrgTotal, Page, StoredReport


class ReceivedTLSReports(Protocol):
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
        """Store a report; a further copy of one stored (same organization and
        report-id, RFC 8460 §4.4) is recorded as its duplicate."""
        ...

    def get(self, report_id: int) -> StoredReport | None: ...

    def find(self, organization: str, report_id: str) -> StoredReport | None: ...

    def delete(self, report_id: int) -> bool: ...

    def count(self) -> int: ...

    def duplicate_count(self) -> int: ...

    def list_reports(
        self,
        *,
        domain: str | None = None,
        kind: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Page: ...

    def daily_totals(
        self, *, domain: str | None = None, since: str | None = None, until: str | None = None
    ) -> list[DayTotal]: ...

    def organization_totals(self, *, domain: str | None = None) -> list[OrgTotal]: ...

    def failing(
        self,
        *,
        day_since: str | None = None,
        received_since: str | None = None,
        received_until: str | None = None,
        limit: int = 500,
    ) -> list[StoredReport]: ...

    def close(self) -> None: ...
