"""Gathering the facts for one recipient: store memory, MTA-STS, MX, TLSA.

The lookups run concurrently and each is bounded in time; a failing one
makes its own findings "error" and leaves the others alone.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from postel.delivery.errors import NextHopLookupError, NullMX
from postel.delivery.gather import gather_ips, gather_next_hops, gather_tlsa
from postel.dns import BogusError, DNSError, NotFound, Resolver
from postel.netpolicy import PUBLIC_ONLY, AddressPolicy
from postel.recipientsecurity.errors import BadAddress
from postel.recipientsecurity.evaluate import (
    DANEFacts,
    MTASTSFacts,
    MXFacts,
    dane_finding,
    delivery_problem,
    dnssec_finding,
    local_recipient,
    memory_findings,
    mtasts_finding,
    undeliverable,
)
from postel.recipientsecurity.model import RecipientSecurity
from postel.smtp.address import parse_address
from postel.smtp.errors import AddressError
from postel.store.message import DomainSecurity

if TYPE_CHECKING:
    from postel.mtastsdb import MTASTSCache

log = logging.getLogger("postel.recipientsecurity")

DEFAULT_TIMEOUT = 15.0
T = TypeVar("T")


def recipient_domain(address: str) -> tuple[str, str]:
    """(normalised address, A-label domain) of *address*; BadAddress if unusable."""
    text = address.strip()
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1]
    try:
        addr = parse_address(text, smtputf8=True)
    except AddressError as exc:
        raise BadAddress(f"{address!r} is not an e-mail address: {exc}") from None
    return str(addr), addr.domain


async def _bounded(coro: Awaitable[T], timeout: float, what: str) -> T:
    try:
        return await asyncio.wait_for(coro, timeout)
    except TimeoutError:
        raise TimeoutError(f"{what}: no answer within {timeout:g} s") from None


def _shown(exc: BaseException, generic: str) -> str:
    """What the webmail user sees of an unexpected failure: our own timeout
    message, otherwise *generic*; never an exception's text, which may carry
    socket details (the details are logged)."""
    return str(exc) if isinstance(exc, TimeoutError) and str(exc) else generic


async def mtasts_facts(
    resolver: Resolver,
    domain: str,
    *,
    mtastsdb: MTASTSCache | None = None,
    ssl_context: ssl.SSLContext | None = None,
    https_port: int = 443,
    addresses: AddressPolicy = PUBLIC_ONLY,
) -> MTASTSFacts:
    """The policy from the MTA-STS cache (postel.mtastsdb), or a direct lookup
    that connects only to policy host addresses *addresses* permits."""
    if mtastsdb is not None:
        got = await mtastsdb.get(resolver, domain)
        if got.temporary:
            return MTASTSFacts(problem=got.error or "temporary DNS failure", temporary=True)
        mode = got.mode.value if got.mode is not None else None
        return MTASTSFacts(mode=mode, problem="" if mode else got.error)
    from postel.mtasts.errors import NoRecord, TemporaryLookupError
    from postel.mtasts.lookup import lookup

    res = await lookup(
        resolver, domain, ssl_context=ssl_context, port=https_port, addresses=addresses
    )
    if res.error is None:
        return MTASTSFacts(mode=res.policy.mode.value if res.policy else None)
    if isinstance(res.error, NoRecord):
        return MTASTSFacts()
    if isinstance(res.error, TemporaryLookupError):
        return MTASTSFacts(problem=str(res.error), temporary=True)
    return MTASTSFacts(problem=str(res.error))


async def mx_and_dane_facts(resolver: Resolver, domain: str) -> tuple[MXFacts, DANEFacts | None]:
    """Next hops with DNSSEC status; TLSA of the first host (RFC 7672 §2.2)."""
    try:
        hops = await gather_next_hops(resolver, domain)
    except NullMX:
        return MXFacts(null_mx=True), None
    except NextHopLookupError as exc:
        cause = exc.cause
        return MXFacts(error=str(cause or exc), bogus=isinstance(cause, BogusError)), None
    mx = MXFacts(
        authentic=hops.orig_authentic and hops.expanded_authentic,
        orig_authentic=hops.orig_authentic,
        first_host=hops.hosts[0],
        have_mx=hops.have_mx,
    )
    host = hops.hosts[0]
    addrs = None
    if not hops.have_mx:
        # No MX: the domain itself is the host (RFC 5321 §5.1), if it has an address.
        addrs = await gather_ips(resolver, host)
        if not addrs.ips and isinstance(addrs.error, NotFound):
            nx = await _nxdomain(resolver, host)
            return MXFacts(first_host=host, have_mx=False, nxdomain=nx, no_address=not nx), None
    if not hops.orig_authentic:
        return mx, None
    if addrs is None:
        addrs = await gather_ips(resolver, host)
    if addrs.error is not None and not addrs.ips:
        return mx, DANEFacts(host=host, error=str(addrs.error))
    tlsa = await gather_tlsa(resolver, hops, addrs)
    if tlsa.error is not None:
        return mx, DANEFacts(host=host, applies=True, error=str(tlsa.error))
    return mx, DANEFacts(host=host, applies=tlsa.applies, records=len(tlsa.records))


async def _nxdomain(resolver: Resolver, name: str) -> bool:
    """Whether *name* does not exist at all (NXDOMAIN, RFC 8020), rather than
    existing without address records."""
    try:
        await resolver.lookup(name, "A")
    except NotFound as exc:
        return exc.nxdomain
    except DNSError:
        return False
    return False


async def evaluate_recipient(
    address: str,
    *,
    resolver: Resolver,
    memory: Callable[[str], DomainSecurity] | None,
    mtastsdb: MTASTSCache | None = None,
    ssl_context: ssl.SSLContext | None = None,
    https_port: int = 443,
    timeout: float = DEFAULT_TIMEOUT,
    addresses: AddressPolicy = PUBLIC_ONLY,
    local: Callable[[str], bool | None] | None = None,
) -> RecipientSecurity:
    """The five findings for *address*. *memory* returns the sender account's
    per-domain memory (AccountStore.domain_security); it is called in a thread.
    Raises BadAddress for an unusable address; lookups never raise. Direct
    MTA-STS lookups (no *mtastsdb*) fetch only from addresses *addresses* permits.
    *local* tells whether a (normalised) address is this server's: None when its
    domain is not one of ours, else whether an account receives it; local
    recipients are looked up nowhere. A domain that does not exist, or has no
    MX and no address, is reported as undeliverable."""
    addr, domain = recipient_domain(address)
    here = local(addr) if local is not None else None
    if here is not None:
        return local_recipient(addr, domain, here)
    if domain.startswith("["):
        return RecipientSecurity(
            addr, domain, notes=("address literal: no MX, MTA-STS or DANE (RFC 5321 §4.1.3)",)
        )

    async def mem() -> DomainSecurity | None:
        if memory is None:
            return None
        return await asyncio.to_thread(memory, domain)

    results = await asyncio.gather(
        _bounded(mem(), timeout, "store"),
        _bounded(
            mtasts_facts(
                resolver,
                domain,
                mtastsdb=mtastsdb,
                ssl_context=ssl_context,
                https_port=https_port,
                addresses=addresses,
            ),
            timeout,
            "MTA-STS lookup",
        ),
        _bounded(mx_and_dane_facts(resolver, domain), timeout, "MX/TLSA lookup"),
        return_exceptions=True,
    )
    mem_res, sts_res, mx_res = results
    if isinstance(mem_res, BaseException):
        log.warning(
            "reading domain security failed", extra={"domain": domain, "err": repr(mem_res)}
        )
        starttls, requiretls = memory_findings(domain, None, str(mem_res) or repr(mem_res))
    else:
        starttls, requiretls = memory_findings(domain, mem_res)
    if isinstance(sts_res, BaseException):
        log.info("mta-sts lookup failed", extra={"domain": domain, "err": repr(sts_res)})
        sts = MTASTSFacts(problem=_shown(sts_res, "MTA-STS lookup failed"), temporary=True)
    else:
        sts = sts_res
    if isinstance(mx_res, BaseException):
        log.info("mx lookup failed", extra={"domain": domain, "err": repr(mx_res)})
        mx, dane = MXFacts(error=_shown(mx_res, "MX lookup failed")), None
    else:
        mx, dane = mx_res
    problem = delivery_problem(domain, mx)
    if problem is not None:
        return undeliverable(addr, domain, *problem)
    return RecipientSecurity(
        address=addr,
        domain=domain,
        starttls=starttls,
        mtasts=mtasts_finding(domain, sts),
        dnssec=dnssec_finding(domain, mx),
        dane=dane_finding(domain, mx, dane),
        requiretls=requiretls,
    )
