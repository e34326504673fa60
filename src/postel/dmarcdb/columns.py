"""A received DMARC report as the values of its stored rows, and a stored row
back as a :class:`StoredReport` (pure): one mapping for dmarcrpt.db and for
the shared PostgreSQL table (postel.pg.dmarcreports), whose report columns
stand in the same order."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

from postel.columns import col_int, col_str
from postel.dmarcdb.counts import report_counts
from postel.dmarcdb.model import Counts, StoredReport
from postel.dmarcrpt import Report
from postel.reportstore import domain_key


def iso_time(when: datetime) -> str:
    """*when* as stored in the received column: UTC, to the second."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def report_day(epoch: int) -> str:
    """The UTC day (YYYY-MM-DD) of a report's begin; out of range sorts last."""
    try:
        return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d")
    except (OverflowError, OSError, ValueError):
        return "9999-12-31"


def report_values(
    report: Report,
    *,
    received: str,
    warnings: list[str] | None,
    from_addr: str,
    to_rcpt: str,
    message_ref: str,
) -> tuple[object, ...]:
    """The report row: received, from_addr, to_rcpt, organization, report_id,
    domain, format, begin, end, day, record_count, the seven counts, the JSON,
    warnings and message_ref."""
    md = report.metadata
    c = report_counts(report)
    return (
        received,
        from_addr,
        to_rcpt,
        md.org_name,
        md.report_id,
        domain_key(report.policy_published.domain),
        report.format,
        md.date_range.begin,
        md.date_range.end,
        report_day(md.date_range.begin),
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
    )


def record_values(report_row: int, report: Report) -> list[tuple[object, ...]]:
    """The record rows of the stored report *report_row*: report, idx, source_ip,
    count, disposition, dkim, spf, header_from."""
    return [
        (
            report_row,
            i,
            r.row.source_ip,
            r.row.count,
            r.row.policy_evaluated.disposition,
            r.row.policy_evaluated.dkim,
            r.row.policy_evaluated.spf,
            r.identifiers.header_from,
        )
        for i, r in enumerate(report.records)
    ]


def counts_at(row: Sequence[object], start: int) -> Counts:
    """The seven sums or counts standing from column *start*."""
    return Counts(*(col_int(row[start + i]) for i in range(7)))


def stored_report(row: Sequence[object], *, with_json: bool, duplicates: int = 0) -> StoredReport:
    """A row of the report columns (id, received, from_addr, to_rcpt,
    organization, report_id, domain, format, begin, end, record_count, the
    seven counts, warnings, message_ref; then the JSON when *with_json*)."""
    return StoredReport(
        id=col_int(row[0]),
        received=col_str(row[1]),
        from_addr=col_str(row[2]),
        to_rcpt=col_str(row[3]),
        organization=col_str(row[4]),
        report_id=col_str(row[5]),
        domain=col_str(row[6]),
        format=col_str(row[7]),
        begin=col_int(row[8]),
        end=col_int(row[9]),
        record_count=col_int(row[10]),
        counts=counts_at(row, 11),
        warnings=[str(w) for w in json.loads(col_str(row[18]) or "[]")],
        message_ref=col_str(row[19]),
        json=col_str(row[20]) if with_json else "",
        duplicates=duplicates,
    )
