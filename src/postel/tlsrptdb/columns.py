"""A received TLS report (RFC 8460) as the values of its stored rows, and a
stored row back as a :class:`StoredReport` (pure): one mapping for tlsrpt.db
and for the shared PostgreSQL table (postel.pg.tlsreports), whose report
columns stand in the same order."""

from __future__ import annotations

import json
from collections.abc import Sequence

from postel.columns import col_int, col_str
from postel.reportstore import domain_key
from postel.tlsrpt import Report
from postel.tlsrpt.report import format_datetime
from postel.tlsrptdb.errors import TLSRPTDBArgumentError
from postel.tlsrptdb.model import StoredReport

KINDS = ("domain", "host")


def check_kind(kind: str) -> None:
    """A report is of a policy domain or of a host (RFC 8460 §3)."""
    if kind not in KINDS:
        raise TLSRPTDBArgumentError(f"kind {kind!r}: expected one of {', '.join(KINDS)}")


def report_values(
    report: Report,
    *,
    kind: str,
    received: str,
    warnings: list[str] | None,
    from_addr: str,
    to_rcpt: str,
    message_ref: str,
) -> tuple[object, ...]:
    """The report row: received, from_addr, to_rcpt, kind, organization,
    report_id, contact_info, start, end, day, policy_domains, successes,
    failures, the JSON, warnings and message_ref."""
    start = format_datetime(report.date_range.start)
    return (
        received,
        from_addr,
        to_rcpt,
        kind,
        report.organization_name,
        report.report_id,
        report.contact_info,
        start,
        format_datetime(report.date_range.end),
        start[:10],
        "\n".join(domain_key(d) for d in report.policy_domains()),
        report.total_successes(),
        report.total_failures(),
        report.to_json(indent=None),
        json.dumps(list(warnings or []), ensure_ascii=False),
        message_ref,
    )


def policy_values(report_row: int, report: Report) -> list[tuple[object, ...]]:
    """The policy rows of the stored report *report_row*: report, idx, domain,
    policy_type, successes, failures."""
    return [
        (
            report_row,
            i,
            domain_key(p.policy.policy_domain),
            str(p.policy.policy_type),
            p.summary.total_successful_session_count,
            p.summary.total_failure_session_count,
        )
        for i, p in enumerate(report.policies)
    ]


def stored_report(row: Sequence[object], *, with_json: bool, duplicates: int = 0) -> StoredReport:
    """A row of the report columns (id, received, from_addr, to_rcpt, kind,
    organization, report_id, contact_info, start, end, policy_domains,
    successes, failures, warnings, message_ref; then the JSON when
    *with_json*)."""
    return StoredReport(
        id=col_int(row[0]),
        received=col_str(row[1]),
        from_addr=col_str(row[2]),
        to_rcpt=col_str(row[3]),
        kind=col_str(row[4]),
        organization=col_str(row[5]),
        report_id=col_str(row[6]),
        contact_info=col_str(row[7]),
        start=col_str(row[8]),
        end=col_str(row[9]),
        policy_domains=[d for d in col_str(row[10]).split("\n") if d],
        successes=col_int(row[11]),
        failures=col_int(row[12]),
        warnings=[str(w) for w in json.loads(col_str(row[13]) or "[]")],
        message_ref=col_str(row[14]),
        json=col_str(row[15]) if with_json else "",
        duplicates=duplicates,
    )
