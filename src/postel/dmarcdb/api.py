"""What the parts use of the received DMARC aggregate reports: the report
intake adds them, the admin pages, the daily digest and ``postel dmarc`` list,
sum and read them.

Implemented by :class:`postel.dmarcdb.db.DMARCDB` (the node's dmarcrpt.db) and
postel.pg.dmarcreports.PgDMARCReports (shared by the nodes).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from postel.dmarcdb.model import AddResult, DayTotal, FailingRecord, OrgTotal, Page, StoredReport
from postel.dmarcrpt import Report


class ReceivedDMARCReports(Protocol):
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
        """Store a report; a further copy of one stored (same organization,
        report_id and policy domain) is recorded as its duplicate."""
        ...

    def get(self, report_id: int) -> StoredReport | None: ...

    def find(self, organization: str, report_id: str) -> list[StoredReport]: ...

    def delete(self, report_id: int) -> bool: ...

    def count(self) -> int: ...

    def duplicate_count(self) -> int: ...

    def list_reports(
        self, *, domain: str | None = None, limit: int = 50, offset: int = 0
    ) -> Page: ...

    def daily_totals(
        self, *, domain: str | None = None, since: str | None = None, until: str | None = None
    ) -> list[DayTotal]: ...

    def organization_totals(self, *, domain: str | None = None) -> list[OrgTotal]: ...

    def failing_records(
        self,
        *,
        day_since: str | None = None,
        received_since: str | None = None,
        received_until: str | None = None,
        report: int | None = None,
        limit: int = 2000,
    ) -> list[FailingRecord]: ...

    def domains(self) -> list[str]: ...

    def close(self) -> None: ...
