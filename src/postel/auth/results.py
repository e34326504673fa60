"""Results of SPF, DKIM and DMARC evaluation and what they mean for delivery."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from postel.auth.dmarc.record import DMARCRecord

SPFStatus = Literal["pass", "fail", "softfail", "neutral", "none", "temperror", "permerror"]
DKIMStatus = Literal["pass", "fail", "neutral", "none", "temperror", "permerror", "policy"]
DMARCStatus = Literal["pass", "fail", "none", "temperror", "permerror"]
Policy = Literal["none", "quarantine", "reject"]
Disposition = Literal["accept", "junk", "reject"]


@dataclass(frozen=True)
class SPFResult:
    """Outcome of check_host() (RFC 7208 §2.6).

    ``domain`` is the checked domain, ``identity`` "mailfrom" or "helo" (RFC 7208
    §2.3/§2.4), ``explanation`` the expanded exp= text for fail results.
    """

    result: SPFStatus
    domain: str
    explanation: str = ""
    identity: Literal["mailfrom", "helo"] = "mailfrom"
    reason: str = ""


@dataclass(frozen=True)
class DKIMResult:
    """Outcome of verifying one DKIM-Signature (RFC 6376 §6.1)."""

    result: DKIMStatus
    domain: str = ""
    selector: str = ""
    algorithm: str = ""
    reason: str = ""


@dataclass(frozen=True)
class DMARCResult:
    """Outcome of DMARC evaluation of the RFC5322.From domain (RFC 7489 §6.6).

    ``policy`` is the policy that applies to the From domain (p= or sp=),
    ``pct`` and ``testing`` (t=y, RFC 9989) limit its application; ``record``
    is the record evaluated (for aggregate reports, RFC 7489 §7.2).
    """

    result: DMARCStatus
    policy: Policy = "none"
    from_domain: str = ""
    org_domain: str = ""
    aligned_spf: bool = False
    aligned_dkim: bool = False
    rua: list[str] = field(default_factory=list)
    pct: int = 100
    testing: bool = False
    record_domain: str = ""
    reason: str = ""
    record: DMARCRecord | None = None


_WEAKER: dict[Policy, Policy] = {"reject": "quarantine", "quarantine": "none", "none": "none"}


@dataclass(frozen=True)
class AuthResults:
    """SPF, DKIM and DMARC results for one incoming message."""

    spf: SPFResult
    dkim: list[DKIMResult]
    dmarc: DMARCResult

    def header(self, hostname: str, *, fold: bool = True) -> str:
        """The Authentication-Results header field (RFC 8601), without final CRLF.

        With ``fold`` each method result starts a new folded line.
        """
        from postel.auth.arheader import format_header

        return format_header(self, hostname, fold=fold)

    def effective_policy(self, sample: float | None = None) -> Policy:
        """The DMARC policy to apply to this message (none if DMARC did not fail).

        RFC 7489 §6.6.4: a message outside the pct= sample gets the next weaker
        policy; RFC 9989 t=y likewise. ``sample`` in [0, 1) replaces the random draw.
        """
        if self.dmarc.result != "fail":
            return "none"
        policy = self.dmarc.policy
        if self.dmarc.testing:
            policy = _WEAKER[policy]
        if self.dmarc.pct < 100:
            draw = random.random() if sample is None else sample
            if draw * 100 >= self.dmarc.pct:
                policy = _WEAKER[policy]
        return policy

    def disposition(self, sample: float | None = None) -> Disposition:
        """accept, junk (DMARC fail, p=quarantine) or reject (DMARC fail, p=reject)."""
        policy = self.effective_policy(sample)
        if policy == "reject":
            return "reject"
        if policy == "quarantine":
            return "junk"
        return "accept"
