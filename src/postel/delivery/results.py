"""RFC 8460 results of one delivery attempt (docs/tls-reporting.md, Recording).

The recipient-domain entry starts from the MTA-STS lookup; one entry per MX
host comes from the DNSSEC/TLSA state; the SMTP sessions add successes,
failures and their details.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import replace

from postel.dane import policy_strings, usable_records
from postel.delivery.decide import REASON_MX_MISMATCH
from postel.delivery.gather import HostAddresses, HostTLSA
from postel.delivery.request import TLSAttempt
from postel.dns import BogusError, DNSError
from postel.dns.ede import EDE_NAMES
from postel.smtpclient.result import SessionResult
from postel.tlsrpt.report import (
    FailureDetails,
    Policy,
    PolicyDetails,
    PolicyType,
    ResultType,
    Summary,
)
from postel.tlsrptresultdb import AttemptResults


def ede_reason(error: DNSError) -> str:
    """failure-reason-code for a DNSSEC failure, naming the EDE code (RFC 8914)."""
    code = getattr(error, "ede_code", None)
    if code is None:
        return "dnssec-bogus" if isinstance(error, BogusError) else "dns-error"
    name = EDE_NAMES.get(code, "unassigned")
    return f"dns-extended-error-{code}-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _policy(kind: PolicyType, domain: str, strings: list[str] | None = None) -> Policy:
    return Policy(PolicyDetails(kind, list(strings or []), domain, []), Summary(), [])


def is_ip_literal(domain: str) -> bool:
    """``[192.0.2.1]`` / ``[IPv6:...]`` address literals (RFC 5321 §4.1.3)."""
    if not (domain.startswith("[") and domain.endswith("]")):
        return False
    inner = domain[1:-1]
    inner = inner[5:] if inner.lower().startswith("ipv6:") else inner
    try:
        ipaddress.ip_address(inner)
    except ValueError:
        return False
    return True


class AttemptReport:
    """Collects the RFC 8460 entries of one delivery attempt to ``domain``."""

    def __init__(self, domain: str, domain_result: Policy) -> None:
        self.domain = domain
        self.domain_result = domain_result
        self.host_results: dict[str, Policy] = {}

    # -- DNS / policy state -------------------------------------------------

    def failure(self, entry: Policy, detail: FailureDetails, *, count: bool = True) -> None:
        if detail.failed_session_count == 0:
            detail = replace(detail, failed_session_count=1)
        entry.failure_details.append(detail)
        if count:
            entry.summary.total_failure_session_count += 1

    def mx_mismatch(self, host: str, *, enforced: bool) -> None:
        """Host not in the policy's mx patterns; a counted failure in enforce mode."""
        self.failure(
            self.domain_result,
            FailureDetails(
                ResultType.VALIDATION_FAILURE,
                receiving_mx_hostname=host,
                failure_reason_code=REASON_MX_MISMATCH,
            ),
            count=enforced,
        )

    def domain_dns_failure(self, error: DNSError) -> None:
        """A bogus answer while finding the next hops (recipient-domain entry)."""
        if isinstance(error, BogusError):
            self.failure(
                self.domain_result,
                FailureDetails(
                    ResultType.VALIDATION_FAILURE,
                    failure_reason_code=ede_reason(error),
                    additional_information=str(error),
                ),
            )

    def host_addresses(self, addrs: HostAddresses) -> None:
        """Host entry when the host could not be used for DANE (insecure or failed)."""
        entry = self.host_results.setdefault(
            addrs.host, _policy(PolicyType.NO_POLICY_FOUND, addrs.host)
        )
        if isinstance(addrs.error, BogusError):
            self.failure(
                entry,
                FailureDetails(
                    ResultType.VALIDATION_FAILURE,
                    receiving_mx_hostname=addrs.host,
                    failure_reason_code=ede_reason(addrs.error),
                    additional_information=str(addrs.error),
                ),
            )

    def host_tlsa(self, host: str, tlsa: HostTLSA) -> None:
        """Host entry from the TLSA state (docs/tls-reporting.md, Recording)."""
        if not tlsa.applies:
            self.host_results[host] = _policy(PolicyType.NO_POLICY_FOUND, host)
            return
        if tlsa.error is not None:
            entry = _policy(PolicyType.TLSA, tlsa.base_domain)
            reason = ede_reason(tlsa.error)
            if not isinstance(tlsa.error, BogusError):
                reason = "tlsa-lookup-error"
            self.failure(
                entry,
                FailureDetails(
                    ResultType.VALIDATION_FAILURE,
                    receiving_mx_hostname=host,
                    failure_reason_code=reason,
                    additional_information=str(tlsa.error),
                ),
            )
            self.host_results[host] = entry
            return
        records = tlsa.records
        if not records:
            self.host_results[host] = _policy(PolicyType.NO_POLICY_FOUND, tlsa.base_domain)
            return
        usable = usable_records(records)
        entry = _policy(PolicyType.TLSA, tlsa.base_domain, sorted(policy_strings(usable)))
        if not usable:
            self.failure(
                entry,
                FailureDetails(
                    ResultType.TLSA_INVALID,
                    receiving_mx_hostname=host,
                    additional_information="no usable TLSA records",
                ),
                count=False,
            )
        self.host_results[host] = entry

    # -- sessions -------------------------------------------------------------

    @staticmethod
    def _detail(fd: FailureDetails, res: SessionResult) -> FailureDetails:
        return replace(
            fd,
            receiving_mx_hostname=fd.receiving_mx_hostname or res.host,
            receiving_ip=fd.receiving_ip or res.ip,
            receiving_mx_helo=fd.receiving_mx_helo or res.receiving_mx_helo,
            failed_session_count=fd.failed_session_count or 1,
        )

    def session(self, res: SessionResult) -> None:
        """Add one SMTP session's TLS outcome to both entries (docs/tls-reporting.md)."""
        host_entry = self.host_results.setdefault(
            res.host, _policy(PolicyType.NO_POLICY_FOUND, res.host)
        )
        entries = (self.domain_result, host_entry)
        if res.reused:
            # RFC 8460 §4.4 counts sessions: a continued connection was counted
            # when it was made, and nothing about its TLS changed since.
            return
        if res.tls_success:
            for e in entries:
                e.summary.total_successful_session_count += 1
        elif res.tls_failure is not None or res.verification_failed:
            for e in entries:
                e.summary.total_failure_session_count += 1
        if res.tls_failure is not None:
            fd = self._detail(res.tls_failure, res)
            for e in entries:
                e.failure_details.append(replace(fd))
        if res.pkix_failure is not None:
            self.domain_result.failure_details.append(self._detail(res.pkix_failure, res))
        if res.dane_failure is not None:
            host_entry.failure_details.append(self._detail(res.dane_failure, res))

    # -- recording ------------------------------------------------------------

    def attempt(self) -> AttemptResults:
        return AttemptResults(self.domain, self.domain_result, dict(self.host_results))

    def has_failures(self) -> bool:
        entries = [self.domain_result, *self.host_results.values()]
        return any(e.summary.total_failure_session_count or e.failure_details for e in entries)


def send_report_for(report: AttemptReport, *, is_tlsrpt: bool, is_dmarc_report: bool) -> bool:
    """Never about TLS reports; DMARC reports only with failures (docs/tls-reporting.md)."""
    if is_tlsrpt:
        return False
    if is_dmarc_report:
        return report.has_failures()
    return True


def tls_attempt(
    report: AttemptReport, *, disabled: bool, is_tlsrpt: bool, is_dmarc_report: bool
) -> TLSAttempt | None:
    """The results to record of *report*; None when nothing is recorded
    (docs/tls-reporting.md): reporting off, or an address literal."""
    if disabled or is_ip_literal(report.domain):
        return None
    send = send_report_for(report, is_tlsrpt=is_tlsrpt, is_dmarc_report=is_dmarc_report)
    return TLSAttempt(report.attempt(), send)
