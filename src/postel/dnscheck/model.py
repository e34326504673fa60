"""What the DNS check looks at (facts) and what it says (sections)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Status = Literal["ok", "warning", "error"]


@dataclass(frozen=True)
class Found:
    """One DNS lookup: values in presentation form (TXT: strings joined), DNSSEC status,
    and why there are none: ``missing`` (NXDOMAIN/NODATA) or ``error`` (other failure)."""

    name: str
    rdtype: str
    values: tuple[str, ...] = ()
    authentic: bool = False
    missing: bool = False
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.missing and not self.error

    def problem(self) -> str:
        """Human text for a failed lookup ("" when it succeeded)."""
        if self.missing:
            return f"no {self.rdtype} record at {self.name}"
        if self.error:
            return f"looking up {self.rdtype} {self.name} failed: {self.error}"
        return ""


@dataclass(frozen=True)
class Probe:
    """A STARTTLS connection to one MX host."""

    host: str
    ip: str = ""
    starttls: bool = False  # STARTTLS offered and the handshake completed
    cert_error: str = ""  # PKIX verification problem, "" when valid
    error: str = ""  # connection or protocol problem


@dataclass(frozen=True)
class PolicyFetch:
    """The MTA-STS policy as fetched over HTTPS."""

    text: str = ""
    error: str = ""


@dataclass
class Facts:
    """Everything looked up for one domain; the pure checks read only this."""

    domain: str
    hostname: str
    validating: bool = False
    validating_detail: str = ""
    our_ips: list[str] = field(default_factory=list)
    host_a: Found | None = None
    host_aaaa: Found | None = None
    ptr: dict[str, Found] = field(default_factory=dict)
    mx: Found | None = None
    probes: list[Probe] = field(default_factory=list)
    tlsa: Found | None = None
    spf: Found | None = None
    spf_results: dict[str, tuple[str, str]] = field(default_factory=dict)  # ip -> (result, why)
    host_spf: Found | None = None
    host_spf_results: dict[str, tuple[str, str]] = field(default_factory=dict)
    dkim: dict[str, Found] = field(default_factory=dict)
    dmarc: Found | None = None
    tlsrpt: Found | None = None
    host_tlsrpt: Found | None = None
    mtasts_record: Found | None = None
    mtasts_policy: PolicyFetch | None = None
    client: dict[str, Found] = field(default_factory=dict)  # name -> SRV/CNAME lookups


@dataclass(frozen=True)
class Expected:
    """What the configuration says should be there (from postel.dnsrecords)."""

    mx_host: str
    tlsa: tuple[str, ...] = ()  # "3 1 1 <hex>"
    tlsa_line: tuple[str, ...] = ()  # zone lines
    dkim: dict[str, tuple[str, str]] = field(default_factory=dict)  # selector -> (value, line)
    lines: dict[str, tuple[str, ...]] = field(default_factory=dict)  # topic -> zone lines
    dmarc_rua: str = ""  # mailto: address we receive DMARC reports at, "" if none
    tlsrpt_rua: str = ""
    host_tlsrpt_rua: str = ""
    mtasts_id: str = ""  # configured policy id, "" when no policy is served
    mtasts_policy: str = ""  # the policy text we serve


@dataclass
class Section:
    """One topic of the check with its errors, warnings, fixes and what was fine."""

    name: str
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    fixes: list[str] = field(default_factory=list)  # records or settings that fix it
    info: list[str] = field(default_factory=list)

    @property
    def status(self) -> Status:
        if self.errors:
            return "error"
        if self.warnings:
            return "warning"
        return "ok"

    def fix(self, *lines: str) -> None:
        for line in lines:
            if line not in self.fixes:
                self.fixes.append(line)
