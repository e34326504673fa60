"""DMARC aggregate report model (RFC 7489 appendix C, RFC 9990) and JSON serialisation."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

# Root namespace of RFC 9990 reports; RFC 7489 reports have none (or the draft one).
NAMESPACE_RFC9990 = "urn:ietf:params:xml:ns:dmarc-2.0"


@dataclass
class DateRange:
    """Seconds since the epoch, UTC."""

    begin: int
    end: int


@dataclass
class ReportMetadata:
    org_name: str
    email: str
    report_id: str
    date_range: DateRange
    extra_contact_info: str | None = None
    errors: list[str] = field(default_factory=list)
    generator: str | None = None  # RFC 9990


@dataclass
class PolicyPublished:
    domain: str
    p: str
    sp: str | None = None
    np: str | None = None  # RFC 9990
    adkim: str | None = None
    aspf: str | None = None
    pct: int | None = None  # RFC 7489 only
    fo: str | None = None
    testing: str | None = None  # RFC 9990, "n" or "y"
    discovery_method: str | None = None  # RFC 9990, "psl" or "treewalk"


@dataclass
class PolicyOverrideReason:
    type: str
    comment: str | None = None


@dataclass
class PolicyEvaluated:
    disposition: str
    dkim: str
    spf: str
    reasons: list[PolicyOverrideReason] = field(default_factory=list)


@dataclass
class Row:
    source_ip: str
    count: int
    policy_evaluated: PolicyEvaluated


@dataclass
class Identifiers:
    header_from: str
    envelope_from: str | None = None
    envelope_to: str | None = None


@dataclass
class DKIMResult:
    domain: str
    result: str
    selector: str | None = None
    human_result: str | None = None


@dataclass
class SPFResult:
    domain: str
    result: str
    scope: str | None = None
    human_result: str | None = None


@dataclass
class AuthResults:
    dkim: list[DKIMResult] = field(default_factory=list)
    spf: list[SPFResult] = field(default_factory=list)


@dataclass
class Record:
    row: Row
    identifiers: Identifiers
    auth_results: AuthResults = field(default_factory=AuthResults)


@dataclass
class Report:
    """An aggregate report. `format` is "rfc9990" (namespaced root) or "rfc7489"."""

    metadata: ReportMetadata
    policy_published: PolicyPublished
    records: list[Record] = field(default_factory=list)
    version: str | None = None
    format: str = "rfc7489"
    namespace: str | None = None

    def message_count(self) -> int:
        return sum(r.row.count for r in self.records)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; absent optional values are null, lists never null."""
        d = asdict(self)
        return {
            "format": d.pop("format"),
            "namespace": d.pop("namespace"),
            "version": d.pop("version"),
            "report_metadata": d.pop("metadata"),
            "policy_published": d.pop("policy_published"),
            "records": d.pop("records"),
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)
