"""One DMARC evaluation of an incoming message, as stored for reports (pure).

The fields are what an aggregate report row needs (RFC 7489 §7.2 and
appendix C, RFC 9990 §2.1): the published policy, the disposition applied,
the DMARC-aligned DKIM and SPF results, the underlying DKIM and SPF results,
the identifiers and the source IP.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from postel.auth import AuthResults

# postel's disposition (what delivery did) in report terms (RFC 7489 appendix C
# DispositionType: none, quarantine, reject).
DISPOSITIONS = {"accept": "none", "junk": "quarantine", "reject": "reject"}
_STRENGTH = {"none": 0, "quarantine": 1, "reject": 2}


@dataclass(frozen=True)
class DKIMEval:
    domain: str
    selector: str
    result: str


@dataclass(frozen=True)
class SPFEval:
    domain: str
    scope: str  # "mfrom" or "helo" (RFC 9990 SPFDomainScope)
    result: str


@dataclass
class Evaluation:
    """What reports need to know about one incoming message."""

    received: dt.datetime
    policy_domain: str  # where the DMARC record was found
    header_from: str
    source_ip: str
    p: str
    sp: str | None
    adkim: str
    aspf: str
    pct: int
    testing: bool
    disposition: str  # none, quarantine, reject
    dkim_aligned: str  # pass or fail
    spf_aligned: str
    envelope_from: str = ""
    reasons: list[str] = field(default_factory=list)  # PolicyOverrideType values
    dkim: list[DKIMEval] = field(default_factory=list)
    spf: SPFEval | None = None
    # Messages that are reports to our reporting addresses: sent only along with
    # other evaluations of the same domain, never on their own (no report loops).
    optional: bool = False
    id: int = 0

    @property
    def day(self) -> dt.date:
        return self.received.astimezone(dt.UTC).date()

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("received", "policy_domain", "optional", "id"):
            d.pop(k)
        return d

    @classmethod
    def from_json(
        cls,
        d: dict[str, Any],
        *,
        received: dt.datetime,
        policy_domain: str,
        optional: bool,
        id: int,
    ) -> Evaluation:
        spf = d.get("spf")
        return cls(
            received=received,
            policy_domain=policy_domain,
            header_from=str(d["header_from"]),
            source_ip=str(d["source_ip"]),
            p=str(d["p"]),
            sp=None if d.get("sp") is None else str(d["sp"]),
            adkim=str(d["adkim"]),
            aspf=str(d["aspf"]),
            pct=int(d["pct"]),
            testing=bool(d["testing"]),
            disposition=str(d["disposition"]),
            dkim_aligned=str(d["dkim_aligned"]),
            spf_aligned=str(d["spf_aligned"]),
            envelope_from=str(d.get("envelope_from", "")),
            reasons=[str(r) for r in d.get("reasons", [])],
            dkim=[
                DKIMEval(str(x["domain"]), str(x["selector"]), str(x["result"])) for x in d["dkim"]
            ],
            spf=None
            if spf is None
            else SPFEval(str(spf["domain"]), str(spf["scope"]), str(spf["result"])),
            optional=optional,
            id=id,
        )


def evaluation_from_results(
    results: AuthResults,
    *,
    disposition: str,
    source_ip: str,
    mail_from: str,
    received: dt.datetime,
    optional: bool = False,
) -> Evaluation | None:
    """The evaluation to store for a message, or None when no report will want
    it: no DMARC record was found, or it asks for no aggregate reports (no rua).

    *disposition* is postel's (accept, junk, reject); *mail_from* the reverse-path.
    """
    d = results.dmarc
    rec = d.record
    if rec is None or not rec.rua or not d.record_domain or not d.from_domain:
        return None
    applied = DISPOSITIONS.get(disposition, "none")
    reasons: list[str] = []
    # RFC 7489 §7.2 / appendix C PolicyOverrideType: why a failing message got
    # less than the published policy.
    if d.result == "fail" and _STRENGTH[applied] < _STRENGTH.get(d.policy, 0):
        reasons.append("policy_test_mode" if d.testing else "sampled_out")
    envelope = mail_from.strip().removeprefix("<").removesuffix(">").rpartition("@")[2].lower()
    spf: SPFEval | None = None
    if results.spf.domain:
        scope = "helo" if results.spf.identity == "helo" else "mfrom"
        spf = SPFEval(results.spf.domain.lower(), scope, results.spf.result)
    return Evaluation(
        received=received.astimezone(dt.UTC),
        policy_domain=d.record_domain.lower(),
        header_from=d.from_domain.lower(),
        source_ip=source_ip,
        p=rec.policy,
        sp=rec.subdomain_policy,
        adkim=rec.adkim,
        aspf=rec.aspf,
        pct=rec.pct,
        testing=rec.testing,
        disposition=applied,
        dkim_aligned="pass" if d.aligned_dkim else "fail",
        spf_aligned="pass" if d.aligned_spf else "fail",
        envelope_from=envelope,
        reasons=reasons,
        dkim=[DKIMEval(x.domain.lower(), x.selector, x.result) for x in results.dkim if x.domain],
        spf=spf,
        optional=optional,
    )
