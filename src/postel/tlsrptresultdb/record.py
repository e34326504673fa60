"""Turning one delivery attempt's TLS results into rows (pure).

RFC 8460 §4.3/4.4; docs/tls-reporting.md, "What is stored".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from postel.tlsrpt.report import Policy, PolicyType, merge_policies


@dataclass
class AttemptResults:
    """What one direct delivery attempt to a recipient domain found.

    *domain_result* is the recipient-domain (MTA-STS) entry; *host_results*
    one entry per MX host tried, keyed by host name (DANE / no-policy-found).
    """

    recipient_domain: str
    domain_result: Policy | None = None
    host_results: dict[str, Policy] = field(default_factory=dict)


@dataclass
class ResultRow:
    policy_domain: str
    day: dt.date
    recipient_domain: str
    is_host: bool
    send_report: bool
    results: list[Policy]
    created: dt.datetime | None = None
    updated: dt.datetime | None = None
    sent_to_recipient_domain: bool = False
    recipient_domain_reporting_addresses: list[str] = field(default_factory=list)
    sent_to_policy_domain: bool = False


def rows_for_attempt(attempt: AttemptResults, day: dt.date, send_report: bool) -> list[ResultRow]:
    """The rows one attempt adds (before merging into stored rows)."""
    rows: list[ResultRow] = []
    host_tlsa_domains = {
        p.policy.policy_domain
        for p in attempt.host_results.values()
        if p.policy.policy_type == PolicyType.TLSA
    }
    dr = attempt.domain_result
    for host, policy in sorted(attempt.host_results.items()):
        policy_domain = policy.policy.policy_domain or host
        # The recipient domain is itself the MX host (no MX record, or mail to
        # tlsrpt@<mx host>): a no-policy-found host row would have the key of the
        # recipient-domain row and count its sessions a second time.
        # Its failure details (a bogus address lookup) go to that row instead.
        if (
            dr is not None
            and policy_domain == attempt.recipient_domain
            and policy.policy.policy_type == PolicyType.NO_POLICY_FOUND
        ):
            extra = [d for d in policy.failure_details if d not in dr.failure_details]
            dr = replace(dr, failure_details=[*dr.failure_details, *extra])
            continue
        rows.append(
            ResultRow(policy_domain, day, attempt.recipient_domain, True, send_report, [policy])
        )
    if dr is not None:
        # docs/tls-reporting.md: a recipient-domain no-policy-found entry is dropped when
        # the same attempt produced a tlsa host result for that policy domain.
        dropped = (
            dr.policy.policy_type == PolicyType.NO_POLICY_FOUND
            and (dr.policy.policy_domain or attempt.recipient_domain) in host_tlsa_domains
        )
        if not dropped:
            rows.append(
                ResultRow(
                    attempt.recipient_domain,
                    day,
                    attempt.recipient_domain,
                    False,
                    send_report,
                    [dr],
                )
            )
    return rows


def merged_attempts(
    attempts: Sequence[tuple[AttemptResults, bool]], day: dt.date
) -> dict[tuple[str, str], ResultRow]:
    """The rows several attempts (each with its send_report) add, merged by
    (policy domain, recipient domain) before they meet the stored rows: one
    read and write per key."""
    rows: dict[tuple[str, str], ResultRow] = {}
    for a, send in attempts:
        for r in rows_for_attempt(a, day, send):
            key = (r.policy_domain, r.recipient_domain)
            rows[key] = merge_row(rows[key], r) if key in rows else r
    return rows


def merge_row(existing: ResultRow, new: ResultRow) -> ResultRow:
    """Add *new*'s results to *existing*; send_report only goes false -> true."""
    existing.results = merge_policies(existing.results, new.results)
    existing.send_report = existing.send_report or new.send_report
    return existing
