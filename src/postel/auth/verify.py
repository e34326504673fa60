"""verify_message: SPF, DKIM and DMARC for one incoming message."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time

from postel.auth.bounded import within
from postel.auth.dkim_verify import may_be_signed, verify_dkim
from postel.auth.dmarc.evaluate import evaluate_dmarc
from postel.auth.domain import normalize_domain, organizational_domain
from postel.auth.errors import FromHeaderError
from postel.auth.fromheader import author_domain
from postel.auth.results import AuthResults, DKIMResult, DMARCResult, SPFResult
from postel.auth.spf.evaluate import check_host, client_ip
from postel.dns import Resolver

log = logging.getLogger("postel.auth")


def _is_ip_literal(helo: str) -> bool:
    h = helo.strip()
    if h.startswith("[") and h.endswith("]"):
        return True
    try:
        ipaddress.ip_address(h)
    except ValueError:
        return False
    return True


async def verify_spf(
    resolver: Resolver, *, ip: str, helo: str, mail_from: str, hostname: str, timeout: float
) -> SPFResult:
    """SPF for the MAIL FROM identity, or HELO for the null reverse-path (RFC 7208 §2.4)."""
    try:
        client_ip(ip)
    except ValueError:
        return SPFResult("none", "", reason=f"invalid client IP {ip!r}")
    mail_from = mail_from.strip().removeprefix("<").removesuffix(">")
    if mail_from:
        local, at, dom = mail_from.rpartition("@")
        if not at:
            dom = mail_from
        domain = normalize_domain(dom)
        if domain is None:
            return SPFResult("none", dom, reason=f"invalid MAIL FROM domain {dom!r}")
        sender = f"{local or 'postmaster'}@{domain}"
        return await check_host(
            resolver,
            ip=ip,
            domain=domain,
            sender=sender,
            helo=helo,
            receiver=hostname,
            identity="mailfrom",
            timeout=timeout,
        )
    if not helo or _is_ip_literal(helo):
        return SPFResult("none", "", identity="helo", reason="null sender and HELO is no name")
    hdom = normalize_domain(helo)
    if hdom is None:
        return SPFResult("none", helo, identity="helo", reason=f"invalid HELO name {helo!r}")
    return await check_host(
        resolver,
        ip=ip,
        domain=hdom,
        sender=f"postmaster@{hdom}",
        helo=helo,
        receiver=hostname,
        identity="helo",
        timeout=timeout,
    )


async def verify_message(
    resolver: Resolver,
    *,
    ip: str,
    helo: str,
    mail_from: str,
    message: bytes,
    hostname: str,
    timeout: float = 20.0,
) -> AuthResults:
    """Evaluate SPF, DKIM and DMARC; DNS problems become temperror, never exceptions.

    ``mail_from`` is the reverse-path without brackets ("" for the null path),
    ``hostname`` our host name (for the "r" SPF macro).
    """
    start = time.monotonic()
    spf_task = verify_spf(
        resolver, ip=ip, helo=helo, mail_from=mail_from, hostname=hostname, timeout=timeout
    )
    spf_r: SPFResult
    dkim_r: list[DKIMResult]
    if may_be_signed(message):
        dkim_task = verify_dkim(resolver, message, timeout=timeout)
        spf_r, dkim_r = await asyncio.gather(spf_task, dkim_task)
    else:
        # Unsigned (most mail): no DKIM work, so no tasks for gather (BENCHMARKS.md).
        spf_r, dkim_r = await spf_task, []
    try:
        from_domain = author_domain(message)
    except FromHeaderError as exc:
        dmarc = DMARCResult("permerror", reason=str(exc))
    else:
        if from_domain is None:
            dmarc = DMARCResult("none", reason="no From header")
        else:
            left = max(1.0, timeout - (time.monotonic() - start))
            try:
                dmarc = await within(evaluate_dmarc(resolver, from_domain, spf_r, dkim_r), left)
            except TimeoutError:
                dmarc = DMARCResult(
                    "temperror",
                    from_domain=from_domain,
                    org_domain=organizational_domain(from_domain),
                    reason="DMARC lookup timed out",
                )
    results = AuthResults(spf_r, dkim_r, dmarc)
    log.info(
        "message authentication",
        extra={
            "ip": ip,
            "spf": spf_r.result,
            "dkim": ",".join(d.result for d in dkim_r) or "none",
            "dmarc": dmarc.result,
            "from_domain": dmarc.from_domain,
        },
    )
    return results
