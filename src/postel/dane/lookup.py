"""TLSA lookup for an SMTP server host (RFC 7672 §2.2.3), with a resolver passed in."""

from __future__ import annotations

from dataclasses import dataclass

import dns.rdatatype

from postel.dane.allowed import normalize_name, tlsa_qname
from postel.dane.record import TLSARecord
from postel.dns import NotFound, Resolver


@dataclass(frozen=True)
class HostExpansion:
    """Result of following a host name's CNAMEs through its address lookup."""

    host: str  # original name, normalised
    expanded: str | None  # canonical name when it differs from host
    authentic: bool | None  # DNSSEC status of the address answer; None if no address


@dataclass(frozen=True)
class TLSALookup:
    """TLSA records found for a server host, and where and how they were found."""

    host: str
    port: int
    base_domain: str  # TLSA base domain the records were found at (or last tried)
    qname: str  # owner name queried last
    tried: tuple[str, ...]  # owner names queried, in order
    records: tuple[TLSARecord, ...]  # empty when there were none
    authentic: bool  # DNSSEC status of the TLSA answer (of the denial when none found)
    cname_chain: tuple[str, ...] = ()  # CNAMEs followed by the resolver for the TLSA name


async def expand_host(resolver: Resolver, host: str) -> HostExpansion:
    """Follow CNAMEs of ``host`` via its A (else AAAA) lookup.

    DNS errors other than "not found" propagate (postel.dns errors).
    """
    original = normalize_name(host)
    for rdtype in ("A", "AAAA"):
        try:
            answer = await resolver.lookup(original, rdtype)
        except NotFound:
            continue
        canonical = normalize_name(answer.name) if answer.name else original
        return HostExpansion(
            host=original,
            expanded=canonical if canonical != original else None,
            authentic=answer.authentic,
        )
    return HostExpansion(host=original, expanded=None, authentic=None)


async def lookup_tlsa(
    resolver: Resolver,
    host: str,
    port: int = 25,
    expanded: str | None = None,
    expanded_authentic: bool = False,
) -> TLSALookup:
    """Look up the TLSA records of an SMTP server (RFC 7672 §2.2.3).

    When the host's CNAME expansion ``expanded`` was DNSSEC-authentic and
    differs, TLSA records are looked up at the expanded name first and, if there
    are none, at the original name. NotFound means no records (an empty result);
    other DNS errors (temporary, bogus) propagate: DANE is then required but
    cannot be satisfied, and the caller fails the host temporarily.
    """
    original = normalize_name(host)
    bases = [original]
    if expanded and expanded_authentic:
        exp = normalize_name(expanded)
        if exp != original:
            bases.insert(0, exp)
    tried: list[str] = []
    denial_authentic = False
    for base in bases:
        qname = tlsa_qname(base, port)
        tried.append(qname)
        try:
            answer = await resolver.lookup(qname, "TLSA")
        except NotFound as exc:
            # RFC 7672 §2.2.3: an authenticated denial means "no TLSA here".
            denial_authentic = exc.authentic
            continue
        records = tuple(
            TLSARecord.from_rdata(rd) for rd in answer.records if rd.rdtype == dns.rdatatype.TLSA
        )
        if not records:
            continue
        return TLSALookup(
            host=original,
            port=port,
            base_domain=base,
            qname=qname,
            tried=tuple(tried),
            records=records,
            authentic=answer.authentic,
            cname_chain=tuple(answer.cname_chain),
        )
    return TLSALookup(
        host=original,
        port=port,
        base_domain=bases[-1],
        qname=tried[-1],
        tried=tuple(tried),
        records=(),
        authentic=denial_authentic,
    )
