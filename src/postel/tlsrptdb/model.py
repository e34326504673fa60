"""Rows of tlsrpt.db as returned by queries."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from postel.reportstore import AddResult

__all__ = ["AddResult", "DayTotal", "OrgTotal", "Page", "StoredReport"]

Kind = Literal["domain", "host"]


@dataclass(frozen=True)
class StoredReport:
    """A received TLS report. `json` is the normalised report (postel.tlsrpt)."""

    id: int
    received: str
    from_addr: str
    to_rcpt: str
    kind: str
    organization: str
    report_id: str
    contact_info: str
    start: str
    end: str
    policy_domains: list[str]
    successes: int
    failures: int
    warnings: list[str]
    message_ref: str
    json: str = ""
    duplicates: int = 0

    def report_dict(self) -> dict[str, Any]:
        obj = json.loads(self.json) if self.json else {}
        return obj if isinstance(obj, dict) else {}


@dataclass(frozen=True)
class DayTotal:
    day: str  # YYYY-MM-DD (UTC) of the report's start-datetime
    reports: int
    successes: int
    failures: int


@dataclass(frozen=True)
class OrgTotal:
    organization: str
    reports: int
    successes: int
    failures: int


@dataclass(frozen=True)
class Page:
    reports: list[StoredReport] = field(default_factory=list)
    total: int = 0
