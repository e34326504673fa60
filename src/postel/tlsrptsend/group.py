"""Grouping a day's stored results into one report per policy domain (pure).

docs/tls-reporting.md, Grouping: keys are (policy domain, day). A key whose
policy domain is the recipient domain of some row is a recipient-domain key:
its report holds every row of that recipient domain, host rows keeping their
own policy domain. Host rows of a key are reported to the MX host's domain
with the policy domain rewritten to the recipient domain and mx-host [host],
unless the recipient domain's report already went to the same addresses.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace

from postel.tlsrpt.report import Policy, merge_policies
from postel.tlsrptresultdb import ResultRow


@dataclass
class Key:
    """One report to consider: a policy domain on a day."""

    policy_domain: str
    day: dt.date
    is_recipient_domain: bool
    send_report: bool  # some row of this policy domain asked for a report


@dataclass
class Selection:
    """What a key's report contains and which rows it covers."""

    key: Key
    policies: list[Policy] = field(default_factory=list)
    # Rows of the recipient domain (reported as they are).
    recipient_rows: list[ResultRow] = field(default_factory=list)
    # Host rows reported to the MX host's domain (policy domain rewritten).
    host_rows: list[ResultRow] = field(default_factory=list)
    # Host rows left out because the recipient domain's report reached the same addresses.
    skipped_rows: list[ResultRow] = field(default_factory=list)

    def rows(self) -> list[ResultRow]:
        return self.recipient_rows + self.host_rows


def keys_for_day(rows: list[ResultRow], day: dt.date) -> list[Key]:
    """The keys of *day*: recipient-domain keys first, then MX-host keys, each sorted."""
    send: dict[str, bool] = {}
    recipient_domains: set[str] = set()
    for r in rows:
        if r.day != day:
            continue
        send[r.policy_domain] = send.get(r.policy_domain, False) or r.send_report
        if not r.is_host:
            recipient_domains.add(r.policy_domain)
    rcpt = [Key(pd, day, True, send[pd]) for pd in sorted(send) if pd in recipient_domains]
    host = [Key(pd, day, False, send[pd]) for pd in sorted(send) if pd not in recipient_domains]
    return rcpt + host


def host_policy(row: ResultRow, policy: Policy) -> Policy:
    """A host result as reported to the MX host's domain (docs/tls-reporting.md):
    policy domain rewritten to the recipient domain, mx-host [host]."""
    details = replace(
        policy.policy,
        policy_strings=list(policy.policy.policy_strings),
        policy_domain=row.recipient_domain,
        mx_hosts=[row.policy_domain],
    )
    return Policy(details, replace(policy.summary), [replace(d) for d in policy.failure_details])


def select(rows: list[ResultRow], key: Key, addresses: list[str]) -> Selection:
    """The report content of *key*, sent to *addresses* (the rua URIs).

    Rows already reported for the same purpose (marked sent) are left out, so a
    run repeated after a restart does not report them twice.
    """
    sel = Selection(key)
    wanted = sorted(addresses)
    day_rows = [r for r in rows if r.day == key.day]
    if key.is_recipient_domain:
        for r in day_rows:
            if r.recipient_domain == key.policy_domain and not r.sent_to_recipient_domain:
                sel.recipient_rows.append(r)
    for r in day_rows:
        if not r.is_host or r.policy_domain != key.policy_domain:
            continue
        if r.recipient_domain == key.policy_domain or r.sent_to_policy_domain:
            continue  # reported as a recipient-domain row, or already sent
        if r.sent_to_recipient_domain and sorted(r.recipient_domain_reporting_addresses) == wanted:
            sel.skipped_rows.append(r)
            continue
        sel.host_rows.append(r)
    policies: list[list[Policy]] = [r.results for r in sel.recipient_rows]
    policies += [[host_policy(r, p) for p in r.results] for r in sel.host_rows]
    sel.policies = merge_policies(*policies)
    return sel


def has_failures(policies: list[Policy]) -> bool:
    return any(p.summary.total_failure_session_count > 0 for p in policies)
