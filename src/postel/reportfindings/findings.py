"""What others report about us, as problems to act on (pure).

Received TLS reports (RFC 8460) whose failed sessions concern one of our
domains or our MX host mean that a sender could not validate our MTA-STS
policy, our TLSA records or our certificate. Received DMARC aggregate reports
(RFC 7489 §7.2) whose rows fail DMARC for our domain from an address we do not
send from mean that someone else sends as us, or that one of our own senders
is missing from SPF and does not sign. Each finding names the DNS check
section that explains it (the admin's /admin/domains/<d>/check page).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from postel.dmarcdb import FailingRecord

T = TypeVar("T")

# DNS check sections (postel.dnscheck) by what a TLS failure points at.
SECTION_MTASTS = "MTA-STS"
SECTION_TLSA = "TLSA (DANE)"
SECTION_DNSSEC = "DNSSEC"
SECTION_STARTTLS = "STARTTLS"
SECTION_SPF = "SPF"
SECTION_DKIM = "DKIM"

_RESULT_SECTIONS = {
    "sts-policy-fetch-error": SECTION_MTASTS,
    "sts-policy-invalid": SECTION_MTASTS,
    "sts-webpki-invalid": SECTION_MTASTS,
    "tlsa-invalid": SECTION_TLSA,
    "dane-required": SECTION_TLSA,
    "dnssec-invalid": SECTION_DNSSEC,
    "starttls-not-supported": SECTION_STARTTLS,
    "certificate-host-mismatch": SECTION_STARTTLS,
    "certificate-expired": SECTION_STARTTLS,
    "certificate-not-trusted": SECTION_STARTTLS,
}


def anchor(section: str) -> str:
    """The id of a DNS check section in the admin's check page."""
    return "".join(c if c.isalnum() else "-" for c in section.lower()).strip("-").replace("--", "-")


@dataclass(frozen=True)
class OwnNames:
    """Our domains and MX host names (lower case, no trailing dot)."""

    domains: frozenset[str]
    hosts: frozenset[str]

    @classmethod
    def of(cls, domains: Iterable[str], hosts: Iterable[str]) -> OwnNames:
        return cls(
            frozenset(d.rstrip(".").lower() for d in domains),
            frozenset(h.rstrip(".").lower() for h in hosts),
        )

    def check_domain(self, name: str) -> str | None:
        """The hosted domain whose DNS check covers *name* (a domain or MX host)."""
        name = name.rstrip(".").lower()
        if name in self.domains:
            return name
        if name in self.hosts and self.domains:
            return min(self.domains)  # every hosted domain's check covers the host
        return None


@dataclass(frozen=True)
class TLSFinding:
    """Failed sessions a reporter saw on one policy of ours."""

    report: int
    organization: str
    day: str
    policy_type: str
    policy_domain: str
    failures: int
    results: tuple[str, ...]  # result types (and reasons) of the failure details
    check_domain: str
    section: str


@dataclass(frozen=True)
class DMARCFinding:
    """Messages failing DMARC for our domain from one source address."""

    domain: str
    source_ip: str
    messages: int
    reports: tuple[int, ...]
    organizations: tuple[str, ...]
    dispositions: tuple[str, ...]
    first_day: str
    last_day: str
    section: str = SECTION_SPF


@dataclass
class Findings:
    tls: list[TLSFinding] = field(default_factory=list)
    dmarc: list[DMARCFinding] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.tls or self.dmarc)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int:
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0


def _section(policy_type: str, results: Sequence[str]) -> str:
    for r in results:
        kind = r.split(" ", 1)[0]
        if kind in _RESULT_SECTIONS:
            return _RESULT_SECTIONS[kind]
        if "mtasts" in r or "mta-sts" in r:
            return SECTION_MTASTS
        if "dane" in r or "tlsa" in r:
            return SECTION_TLSA
    return {"sts": SECTION_MTASTS, "tlsa": SECTION_TLSA}.get(policy_type, SECTION_STARTTLS)


def tls_findings(
    report: int, organization: str, day: str, report_dict: Mapping[str, Any], ours: OwnNames
) -> list[TLSFinding]:
    """The failures of one received TLS report that concern our names."""
    out: list[TLSFinding] = []
    policies = report_dict.get("policies")
    for p in policies if isinstance(policies, list) else []:
        if not isinstance(p, dict):
            continue
        pol, summary = _dict(p.get("policy")), _dict(p.get("summary"))
        failures = _int(summary.get("total-failure-session-count"))
        domain = str(pol.get("policy-domain") or "")
        check = ours.check_domain(domain) if domain else None
        if failures == 0 or check is None:
            continue
        results: list[str] = []
        details = p.get("failure-details")
        for d in details if isinstance(details, list) else []:
            if not isinstance(d, dict):
                continue
            text = str(d.get("result-type") or "")
            reason = str(d.get("failure-reason-code") or "")
            text = f"{text} ({reason})" if reason else text
            if text and text not in results:
                results.append(text)
        kind = str(pol.get("policy-type") or "")
        out.append(
            TLSFinding(
                report,
                organization,
                day,
                kind,
                domain.rstrip(".").lower(),
                failures,
                tuple(results),
                check,
                _section(kind, results),
            )
        )
    return out


@dataclass
class _Source:
    messages: int = 0
    reports: list[int] = field(default_factory=list)
    organizations: list[str] = field(default_factory=list)
    dispositions: list[str] = field(default_factory=list)
    days: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class FailingRow:
    """A report row failing DMARC (as dmarcdb.FailingRecord, without the DB)."""

    report: int
    organization: str
    domain: str
    day: str
    source_ip: str
    count: int
    disposition: str

    @classmethod
    def of(cls, r: FailingRecord) -> FailingRow:
        return cls(r.report, r.organization, r.domain, r.day, r.source_ip, r.count, r.disposition)


def _add_once(values: list[T], value: T) -> None:
    if value not in values:
        values.append(value)


def _known(ip: str, networks: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(addr in n for n in networks)


def dmarc_findings(
    rows: Iterable[FailingRow],
    ours: OwnNames,
    known: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network],
) -> list[DMARCFinding]:
    """Rows failing DMARC for our domains, by (domain, source address), skipping
    the addresses we send from; most messages first."""
    sources: dict[tuple[str, str], _Source] = {}
    for r in rows:
        domain = r.domain.rstrip(".").lower()
        if domain not in ours.domains or r.count <= 0 or _known(r.source_ip, known):
            continue
        s = sources.setdefault((domain, r.source_ip), _Source())
        s.messages += r.count
        _add_once(s.reports, r.report)
        _add_once(s.organizations, r.organization)
        _add_once(s.dispositions, r.disposition)
        _add_once(s.days, r.day)
    found = [
        DMARCFinding(
            domain,
            ip,
            s.messages,
            tuple(s.reports),
            tuple(s.organizations),
            tuple(s.dispositions),
            min(s.days),
            max(s.days),
        )
        for (domain, ip), s in sources.items()
    ]
    found.sort(key=lambda f: (-f.messages, f.domain, f.source_ip))
    return found
