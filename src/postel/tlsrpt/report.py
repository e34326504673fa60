"""The TLS report model (RFC 8460 §4.4), merging and JSON serialisation."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any


class PolicyType(enum.StrEnum):
    """RFC 8460 §4.4 policy-type."""

    TLSA = "tlsa"
    STS = "sts"
    NO_POLICY_FOUND = "no-policy-found"


class ResultType(enum.StrEnum):
    """RFC 8460 §4.3 result types."""

    STARTTLS_NOT_SUPPORTED = "starttls-not-supported"
    CERTIFICATE_HOST_MISMATCH = "certificate-host-mismatch"
    CERTIFICATE_EXPIRED = "certificate-expired"
    TLSA_INVALID = "tlsa-invalid"
    DNSSEC_INVALID = "dnssec-invalid"
    DANE_REQUIRED = "dane-required"
    CERTIFICATE_NOT_TRUSTED = "certificate-not-trusted"
    STS_POLICY_INVALID = "sts-policy-invalid"
    STS_WEBPKI_INVALID = "sts-webpki-invalid"
    VALIDATION_FAILURE = "validation-failure"
    STS_POLICY_FETCH_ERROR = "sts-policy-fetch-error"


def format_datetime(dt: datetime) -> str:
    """RFC 3339 date-time in UTC with "Z" (RFC 8460 §4.4)."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    dt = dt.astimezone(UTC)
    if dt.microsecond:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class DateRange:
    start: datetime
    end: datetime


@dataclass
class PolicyDetails:
    """The `policy` object of a policy entry."""

    policy_type: PolicyType
    policy_strings: list[str] = field(default_factory=list)
    policy_domain: str = ""
    mx_hosts: list[str] = field(default_factory=list)

    def key(self) -> tuple[str, tuple[str, ...], str, tuple[str, ...]]:
        """Entries with equal keys merge (docs/tls-reporting.md, Merging)."""
        return (
            str(self.policy_type),
            tuple(self.policy_strings),
            self.policy_domain,
            tuple(self.mx_hosts),
        )


@dataclass
class Summary:
    total_successful_session_count: int = 0
    total_failure_session_count: int = 0


@dataclass
class FailureDetails:
    """One `failure-details` entry (RFC 8460 §4.4). Unknown result types stay strings."""

    result_type: ResultType | str
    sending_mta_ip: str = ""
    receiving_mx_hostname: str = ""
    receiving_mx_helo: str = ""
    receiving_ip: str = ""
    failed_session_count: int = 0
    additional_information: str = ""
    failure_reason_code: str = ""

    def key(self) -> tuple[str, ...]:
        """Everything but the count: equal keys merge by adding counts."""
        return (
            str(self.result_type),
            self.sending_mta_ip,
            self.receiving_mx_hostname,
            self.receiving_mx_helo,
            self.receiving_ip,
            self.additional_information,
            self.failure_reason_code,
        )


@dataclass
class Policy:
    """One entry of `policies`: policy details, summary and failure details."""

    policy: PolicyDetails
    summary: Summary = field(default_factory=Summary)
    failure_details: list[FailureDetails] = field(default_factory=list)

    def merge(self, other: Policy) -> Policy:
        """A new entry with counts of both added; the policies must have equal keys."""
        if self.policy.key() != other.policy.key():
            raise ValueError("cannot merge policy entries with different policies")
        return Policy(
            policy=replace(
                self.policy,
                policy_strings=list(self.policy.policy_strings),
                mx_hosts=list(self.policy.mx_hosts),
            ),
            summary=Summary(
                self.summary.total_successful_session_count
                + other.summary.total_successful_session_count,
                self.summary.total_failure_session_count
                + other.summary.total_failure_session_count,
            ),
            failure_details=merge_failure_details(self.failure_details, other.failure_details),
        )


def merge_failure_details(*lists: list[FailureDetails]) -> list[FailureDetails]:
    """Concatenate, merging entries equal apart from the count by adding counts."""
    out: list[FailureDetails] = []
    index: dict[tuple[str, ...], int] = {}
    for details in lists:
        for d in details:
            k = d.key()
            if k in index:
                prev = out[index[k]]
                out[index[k]] = replace(
                    prev, failed_session_count=prev.failed_session_count + d.failed_session_count
                )
            else:
                index[k] = len(out)
                out.append(replace(d))
    return out


def merge_policies(*lists: list[Policy]) -> list[Policy]:
    """Concatenate policy entries, merging those with equal policy
    (docs/tls-reporting.md, Merging)."""
    out: list[Policy] = []
    index: dict[tuple[str, tuple[str, ...], str, tuple[str, ...]], int] = {}
    for policies in lists:
        for p in policies:
            k = p.policy.key()
            if k in index:
                out[index[k]] = out[index[k]].merge(p)
            else:
                index[k] = len(out)
                out.append(Policy(p.policy, Summary()).merge(p))
    return out


@dataclass
class Report:
    """An RFC 8460 §4.4 aggregate TLS report."""

    organization_name: str
    date_range: DateRange
    contact_info: str
    report_id: str
    policies: list[Policy] = field(default_factory=list)

    def add(self, *policies: Policy) -> None:
        """Add policy entries, merging into existing equal ones."""
        self.policies = merge_policies(self.policies, list(policies))

    def total_successes(self) -> int:
        return sum(p.summary.total_successful_session_count for p in self.policies)

    def total_failures(self) -> int:
        return sum(p.summary.total_failure_session_count for p in self.policies)

    def policy_domains(self) -> list[str]:
        return [p.policy.policy_domain for p in self.policies]

    def to_dict(self) -> dict[str, Any]:
        return report_to_dict(self)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)


def failure_details_to_dict(d: FailureDetails) -> dict[str, Any]:
    out: dict[str, Any] = {
        "result-type": str(d.result_type),
        "sending-mta-ip": d.sending_mta_ip,
        "receiving-mx-hostname": d.receiving_mx_hostname,
    }
    # docs/tls-reporting.md, Report format: omit receiving-mx-helo when empty.
    if d.receiving_mx_helo:
        out["receiving-mx-helo"] = d.receiving_mx_helo
    out["receiving-ip"] = d.receiving_ip
    out["failed-session-count"] = d.failed_session_count
    out["additional-information"] = d.additional_information
    out["failure-reason-code"] = d.failure_reason_code
    return out


def policy_to_dict(p: Policy) -> dict[str, Any]:
    return {
        "policy": {
            "policy-type": str(p.policy.policy_type),
            "policy-string": list(p.policy.policy_strings),
            "policy-domain": p.policy.policy_domain,
            # RFC 8460 erratum 6241: mx-host is an array.
            "mx-host": list(p.policy.mx_hosts),
        },
        "summary": {
            "total-successful-session-count": p.summary.total_successful_session_count,
            "total-failure-session-count": p.summary.total_failure_session_count,
        },
        "failure-details": [failure_details_to_dict(d) for d in p.failure_details],
    }


def report_to_dict(r: Report) -> dict[str, Any]:
    """The report as JSON-ready dict; empty lists are [], never null."""
    return {
        "organization-name": r.organization_name,
        "date-range": {
            "start-datetime": format_datetime(r.date_range.start),
            "end-datetime": format_datetime(r.date_range.end),
        },
        "contact-info": r.contact_info,
        "report-id": r.report_id,
        "policies": [policy_to_dict(p) for p in r.policies],
    }
