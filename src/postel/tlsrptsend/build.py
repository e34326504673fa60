"""Building the report of one key (pure): submitter, date range, report-id, JSON.

RFC 8460 §4.4 (report fields), §5.3 (gzip, file name); docs/tls-reporting.md, One report.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from collections.abc import Iterable
from dataclasses import dataclass

from postel.tlsrpt.report import DateRange, Policy, Report, report_to_dict


def submitter_domain(hostname: str, dkim_domains: Iterable[str]) -> str | None:
    """The mail host name with labels stripped from the left until a domain with
    DKIM signing is found (docs/tls-reporting.md); None when there is none."""
    signing = {d.lower().rstrip(".") for d in dkim_domains}
    labels = hostname.lower().rstrip(".").split(".")
    while labels:
        name = ".".join(labels)
        if name in signing:
            return name
        labels = labels[1:]
    return None


def day_range(day: dt.date) -> DateRange:
    """The UTC day [00:00:00, 23:59:59] (docs/tls-reporting.md)."""
    start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    return DateRange(start, start + dt.timedelta(days=1, seconds=-1))


def report_id(day: dt.date, policy_domain: str, submitter: str) -> str:
    """`<yyyymmdd>.<policydomain>@<submitter>` (docs/tls-reporting.md)."""
    return f"{day:%Y%m%d}.{policy_domain}@{submitter}"


def build_report(
    policies: list[Policy], *, day: dt.date, policy_domain: str, submitter: str
) -> Report:
    return Report(
        organization_name=submitter,
        date_range=day_range(day),
        contact_info=f"postmaster@{submitter}",
        report_id=report_id(day, policy_domain, submitter),
        policies=list(policies),
    )


def report_json(report: Report) -> bytes:
    """RFC 8460 §4.4 JSON (UTF-8, compact)."""
    return json.dumps(report_to_dict(report), ensure_ascii=False, separators=(",", ":")).encode()


def report_gzip(report: Report) -> bytes:
    """The gzip-compressed JSON (RFC 8460 §5.3); mtime 0 so equal reports give equal bytes."""
    return gzip.compress(report_json(report), mtime=0)


def report_filename(report: Report, policy_domain: str, submitter: str) -> str:
    """`<submitter>!<policydomain>!<startunix>!<endunix>.json.gz` (RFC 8460 §5.3)."""
    start = int(report.date_range.start.timestamp())
    end = int(report.date_range.end.timestamp())
    return f"{submitter}!{policy_domain}!{start}!{end}.json.gz"


@dataclass
class BuiltReport:
    """A finished report with what is needed to send it."""

    policy_domain: str
    day: dt.date
    submitter: str
    report: Report
    gzipped: bytes
    filename: str


def built(
    policies: list[Policy], *, day: dt.date, policy_domain: str, submitter: str
) -> BuiltReport:
    report = build_report(policies, day=day, policy_domain=policy_domain, submitter=submitter)
    return BuiltReport(
        policy_domain=policy_domain,
        day=day,
        submitter=submitter,
        report=report,
        gzipped=report_gzip(report),
        filename=report_filename(report, policy_domain, submitter),
    )
