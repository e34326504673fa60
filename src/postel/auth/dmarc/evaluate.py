"""DMARC policy discovery and evaluation (RFC 7489 §6.6)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from postel.auth.dmarc.record import DMARCRecord, parse_record, select_record
from postel.auth.domain import aligned, organizational_domain
from postel.auth.errors import DMARCSyntaxError
from postel.auth.results import DKIMResult, DMARCResult, DMARCStatus, SPFResult
from postel.dns import BogusError, DNSError, NotFound, Resolver, TemporaryError

log = logging.getLogger("postel.auth")


@dataclass(frozen=True)
class Discovery:
    """Outcome of policy discovery: the record and where it was found, or an error."""

    record: DMARCRecord | None
    record_domain: str = ""
    error: str = ""  # "temperror" or "permerror" when set
    reason: str = ""


async def _lookup(resolver: Resolver, domain: str) -> tuple[str | None, str, str]:
    """(record text, error, reason) for ``_dmarc.<domain>``."""
    name = f"_dmarc.{domain}"
    try:
        answer = await resolver.txt(name)
    except NotFound:
        return None, "", f"no record at {name}"
    except (TemporaryError, BogusError, DNSError) as exc:
        return None, "temperror", f"{name}: {exc}"
    except ValueError as exc:
        return None, "", f"{name}: {exc}"
    texts = answer.texts()
    text = select_record(texts)
    if text is None:
        count = sum(1 for t in texts if t.startswith("v=DMARC1"))
        return None, "", f"{count} DMARC records at {name}" if count else f"no record at {name}"
    return text, "", ""


async def discover(resolver: Resolver, from_domain: str) -> Discovery:
    """RFC 7489 §6.6.3: the From domain's record, else the organizational domain's."""
    candidates = [from_domain]
    org = organizational_domain(from_domain)
    if org != from_domain:
        candidates.append(org)
    reason = ""
    for domain in candidates:
        text, error, reason = await _lookup(resolver, domain)
        if error:
            return Discovery(None, domain, error, reason)
        if text is None:
            continue
        try:
            return Discovery(parse_record(text), domain)
        except DMARCSyntaxError as exc:
            return Discovery(None, domain, "permerror", f"_dmarc.{domain}: {exc}")
    return Discovery(None, "", "", reason)


async def evaluate_dmarc(
    resolver: Resolver,
    from_domain: str,
    spf: SPFResult,
    dkim_results: list[DKIMResult],
) -> DMARCResult:
    """DMARC result for ``from_domain`` given the SPF and DKIM results (RFC 7489 §4.2)."""
    org = organizational_domain(from_domain)
    found = await discover(resolver, from_domain)
    if found.error == "temperror":
        return DMARCResult(
            "temperror",
            from_domain=from_domain,
            org_domain=org,
            record_domain=found.record_domain,
            reason=found.reason,
        )
    if found.error == "permerror":
        return DMARCResult(
            "permerror",
            from_domain=from_domain,
            org_domain=org,
            record_domain=found.record_domain,
            reason=found.reason,
        )
    rec = found.record
    if rec is None:
        return DMARCResult("none", from_domain=from_domain, org_domain=org, reason=found.reason)
    # RFC 7489 §6.3: sp= applies when the record came from the organizational domain.
    policy = rec.policy
    if found.record_domain != from_domain and rec.subdomain_policy is not None:
        policy = rec.subdomain_policy
    spf_ok = (
        spf.result == "pass"
        and bool(spf.domain)
        and aligned(spf.domain, from_domain, strict=rec.aspf == "s")
    )
    dkim_ok = any(
        d.result == "pass" and d.domain and aligned(d.domain, from_domain, strict=rec.adkim == "s")
        for d in dkim_results
    )

    def result(status: DMARCStatus, reason: str = "") -> DMARCResult:
        assert rec is not None
        return DMARCResult(
            status,
            policy=policy,
            from_domain=from_domain,
            org_domain=org,
            aligned_spf=spf_ok,
            aligned_dkim=dkim_ok,
            rua=list(rec.rua),
            pct=rec.pct,
            testing=rec.testing,
            record_domain=found.record_domain,
            reason=reason,
            record=rec,
        )

    if spf_ok or dkim_ok:
        return result("pass")
    # A temporary failure of an identifier that could have aligned: do not fail yet.
    spf_temp = (
        spf.result == "temperror"
        and bool(spf.domain)
        and aligned(spf.domain, from_domain, strict=rec.aspf == "s")
    )
    dkim_temp = any(
        d.result == "temperror"
        and d.domain
        and aligned(d.domain, from_domain, strict=rec.adkim == "s")
        for d in dkim_results
    )
    if spf_temp or dkim_temp:
        return result("temperror", "SPF or DKIM temporary error")
    return result("fail", "no aligned SPF or DKIM pass")
