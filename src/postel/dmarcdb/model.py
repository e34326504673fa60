"""Rows of dmarcrpt.db as returned by queries."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from postel.reportstore import AddResult

__all__ = ["AddResult", "Counts", "DayTotal", "FailingRecord", "OrgTotal", "Page", "StoredReport"]


@dataclass(frozen=True)
class Counts:
    """Message counts by policy_evaluated result (RFC 7489 appendix C), weighted by row count.
    DMARC passes when DKIM or SPF passes aligned (RFC 7489 §3.1, §6.6.2)."""

    messages: int = 0
    dkim_pass: int = 0
    dkim_fail: int = 0
    spf_pass: int = 0
    spf_fail: int = 0
    dmarc_pass: int = 0
    dmarc_fail: int = 0


@dataclass(frozen=True)
class StoredReport:
    """A received aggregate report. `json` is the normalised report (postel.dmarcrpt)."""

    id: int
    received: str
    from_addr: str
    to_rcpt: str
    organization: str
    report_id: str
    domain: str
    format: str
    begin: int
    end: int
    record_count: int
    counts: Counts
    warnings: list[str]
    message_ref: str
    json: str = ""
    duplicates: int = 0

    @property
    def message_count(self) -> int:
        return self.counts.messages

    def report_dict(self) -> dict[str, Any]:
        obj = json.loads(self.json) if self.json else {}
        return obj if isinstance(obj, dict) else {}


@dataclass(frozen=True)
class DayTotal:
    day: str  # YYYY-MM-DD (UTC) of the report's begin
    reports: int
    counts: Counts


@dataclass(frozen=True)
class OrgTotal:
    organization: str
    reports: int
    counts: Counts


@dataclass(frozen=True)
class Page:
    reports: list[StoredReport] = field(default_factory=list)
    total: int = 0


@dataclass(frozen=True)
class FailingRecord:
    """One row of a received report whose messages failed DMARC."""

    report: int  # the stored report's id
    organization: str
    domain: str  # the report's policy domain
    day: str  # YYYY-MM-DD (UTC) of the report's begin
    source_ip: str
    count: int
    disposition: str
    dkim: str
    spf: str
    header_from: str
