"""Next hops, host addresses and TLSA records of a recipient domain (RFC 7672 §2.2).

Follows the recipient domain's CNAMEs (at most 16, loops rejected), looks up
MX (no MX: the domain itself, RFC 5321 §5.1; null MX: RFC 7505), and per host
its CNAMEs and A/AAAA records, tracking DNSSEC authenticity of each step.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import dns.rdtypes.ANY.CNAME
import dns.rdtypes.ANY.MX

from postel.dane import TLSARecord
from postel.dane.lookup import TLSALookup, lookup_tlsa
from postel.delivery.errors import NextHopLookupError, NullMX
from postel.dns import Answer, BogusError, DNSError, NotFound, Resolver
from postel.dns.names import MAX_CNAMES

TLSA_PORT = 25  # RFC 7672 §2.2.3: TLSA at _25._tcp.<host>


def _plain(name: str) -> str:
    return name.rstrip(".").lower()


async def _outcome(resolver: Resolver, name: str, rdtype: str) -> Answer | DNSError:
    """One lookup; its DNS error returned rather than raised (for gathering)."""
    try:
        return await resolver.lookup(name, rdtype)
    except DNSError as e:
        return e


async def _after_cnames(
    resolver: Resolver, name: str, rdtypes: Sequence[str]
) -> tuple[CnameExpansion, list[Answer | DNSError]]:
    """Follow *name*'s CNAMEs and look up *rdtypes* of where they end.

    *rdtypes* of *name* itself are asked first (at once), without a lookup of
    its CNAME: a resolver answers them through the name's CNAMEs (RFC 1034
    §3.6.2), and a name with a CNAME has no other data (RFC 2181 §10.1). When
    no answer shows a CNAME at *name*, it has none, with the DNSSEC status of
    those answers (the usual case: one lookup per type, no CNAME lookup).
    Otherwise, and when a lookup failed, the CNAMEs are followed one by one
    (RFC 7672 §2.2.1 needs each step's DNSSEC status) and *rdtypes* asked
    again of where they end.
    """
    plain = _plain(name)
    first = list(await asyncio.gather(*(_outcome(resolver, plain, t) for t in rdtypes)))
    if all(_without_cname(plain, a) for a in first):
        authentic = all(isinstance(a, Answer | NotFound) and a.authentic for a in first)
        return CnameExpansion(plain, plain, authentic, authentic), first
    exp = await follow_cnames(resolver, name)
    if exp.expanded == plain:
        return exp, first
    again = await asyncio.gather(*(_outcome(resolver, exp.expanded, t) for t in rdtypes))
    return exp, list(again)


def _without_cname(plain: str, found: Answer | DNSError) -> bool:
    """*found* (a lookup of *plain*) was answered at *plain*, through no CNAME."""
    if isinstance(found, Answer):
        return not found.cname_chain
    return isinstance(found, NotFound) and _plain(found.name) == plain


@dataclass(frozen=True)
class CnameExpansion:
    name: str  # original, without trailing dot
    expanded: str  # after following CNAMEs (== name without any)
    first_authentic: bool  # the first lookup (of the original name)
    authentic: bool  # every lookup of the chain


async def follow_cnames(resolver: Resolver, name: str) -> CnameExpansion:
    """Follow CNAME records of ``name`` one by one (RFC 7672 §2.2.1).

    Raises NextHopLookupError on DNS failures, loops or more than 16 CNAMEs.
    """
    original = _plain(name)
    current = original
    seen = {current}
    first: bool | None = None
    authentic = True
    for _ in range(MAX_CNAMES + 1):
        try:
            answer = await resolver.lookup(current, "CNAME")
        except NotFound as e:
            first = e.authentic if first is None else first
            authentic = authentic and e.authentic
            return CnameExpansion(original, current, first, authentic)
        except DNSError as e:
            raise NextHopLookupError(f"looking up CNAME of {current}: {e}", cause=e) from None
        first = answer.authentic if first is None else first
        authentic = authentic and answer.authentic
        targets = [rd for rd in answer.records if isinstance(rd, dns.rdtypes.ANY.CNAME.CNAME)]
        if not targets:
            return CnameExpansion(original, current, first, authentic)
        target = _plain(targets[0].target.to_text())
        if target in seen:
            raise NextHopLookupError(f"CNAME loop at {current} -> {target}")
        seen.add(target)
        current = target
    raise NextHopLookupError(f"more than {MAX_CNAMES} CNAMEs from {original} (RFC 7672 §2.2)")


@dataclass(frozen=True)
class NextHops:
    """Where mail for ``domain`` goes (RFC 5321 §5.1, RFC 7672 §2.2.1)."""

    domain: str
    expanded: str  # the domain after CNAME expansion
    have_mx: bool
    orig_authentic: bool  # original next hop (the recipient domain) answer
    expanded_authentic: bool  # every answer on the way to the MX records
    hosts: list[str]  # MX hosts by preference, random among equal; [expanded] without MX

    @property
    def dane_possible(self) -> bool:
        """Original next hop (and expanded one when MX existed) authentic (RFC 7672 §2.2.1)."""
        return self.orig_authentic and (self.expanded_authentic or not self.have_mx)


async def gather_next_hops(
    resolver: Resolver, domain: str, *, rng: random.Random | None = None
) -> NextHops:
    """The recipient domain's next-hop hosts.

    Raises NullMX (permanent) or NextHopLookupError (temporary; ``cause`` is
    the DNS error, a BogusError for DNSSEC validation failures).
    """
    rng = rng or random.Random()
    exp, (answer,) = await _after_cnames(resolver, domain, ("MX",))
    if isinstance(answer, NotFound):
        # RFC 5321 §5.1: no MX, the domain itself is the host ("implicit MX").
        e = answer
        authentic = exp.authentic and e.authentic
        orig = exp.first_authentic and (e.authentic if exp.expanded == exp.name else True)
        return NextHops(exp.name, exp.expanded, False, orig, authentic, [exp.expanded])
    if isinstance(answer, DNSError):
        raise NextHopLookupError(f"looking up MX of {exp.expanded}: {answer}", cause=answer)
    mxs = [rd for rd in answer.records if isinstance(rd, dns.rdtypes.ANY.MX.MX)]
    if len(mxs) == 1 and mxs[0].exchange.to_text() == ".":
        raise NullMX(domain)
    authentic = exp.authentic and answer.authentic
    orig = exp.first_authentic and (answer.authentic if exp.expanded == exp.name else True)
    by_pref: dict[int, list[str]] = {}
    for rd in mxs:
        host = _plain(rd.exchange.to_text())
        if host and host not in {h for hs in by_pref.values() for h in hs}:
            by_pref.setdefault(rd.preference, []).append(host)
    hosts: list[str] = []
    for pref in sorted(by_pref):
        group = by_pref[pref]
        rng.shuffle(group)  # RFC 5321 §5.1: random order among equal preferences
        hosts.extend(group)
    if not hosts:
        raise NextHopLookupError(f"MX records of {exp.expanded} name no usable host")
    return NextHops(exp.name, exp.expanded, True, orig, authentic, hosts)


@dataclass(frozen=True)
class HostAddresses:
    """A host's CNAME expansion and addresses, with DNSSEC status."""

    host: str
    expanded: str  # == host without CNAMEs
    first_authentic: bool
    expanded_authentic: bool  # CNAME chain (if any)
    addresses_authentic: bool  # every address answer that had records
    ips: list[str] = field(default_factory=list)
    error: DNSError | None = None  # a lookup failure (ips may still be partly filled)

    @property
    def authentic(self) -> bool:
        """The whole host lookup was DNSSEC-authentic."""
        return self.first_authentic and self.expanded_authentic and self.addresses_authentic


async def gather_ips(resolver: Resolver, host: str) -> HostAddresses:
    """CNAMEs, then AAAA and A records of ``host`` (IPv6 first), asked at once.

    DNS failures end up in ``error`` (a NextHopLookupError's cause for CNAMEs).
    """
    host = _plain(host)
    try:
        exp, answers = await _after_cnames(resolver, host, ("AAAA", "A"))
    except NextHopLookupError as e:
        cause = e.cause if isinstance(e.cause, DNSError) else DNSError(e.text, qname=host)
        return HostAddresses(host, host, False, False, False, [], cause)
    ips: list[str] = []
    authentic = True
    error: DNSError | None = None
    found_any = False
    for answer in answers:  # AAAA first
        if isinstance(answer, NotFound):
            authentic = authentic and answer.authentic
            continue
        if isinstance(answer, DNSError):
            error = error if isinstance(error, BogusError) else answer
            continue
        found_any = True
        authentic = authentic and answer.authentic
        ips.extend(rd.to_text() for rd in answer.records)
    if not found_any and error is None:
        error = NotFound(exp.expanded, "A", nxdomain=True)
    first = exp.first_authentic if exp.expanded != host else (exp.first_authentic and authentic)
    return HostAddresses(host, exp.expanded, first, exp.authentic, authentic, ips, error)


@dataclass(frozen=True)
class HostTLSA:
    """TLSA status of one host (RFC 7672 §2.2.3)."""

    applies: bool  # DNSSEC made DANE possible for this host
    base_domain: str
    allowed_names: list[str]
    lookup: TLSALookup | None = None  # records found (authentic) or an empty lookup
    error: DNSError | None = None  # lookup failed after records were expected: DANE required

    @property
    def records(self) -> list[TLSARecord]:
        return list(self.lookup.records) if self.lookup is not None else []


async def gather_tlsa(resolver: Resolver, hops: NextHops, addrs: HostAddresses) -> HostTLSA:
    """Look up TLSA records when the chain to the host is authentic (RFC 7672 §2.2.3)."""
    expanded = addrs.expanded if addrs.expanded != addrs.host else None
    exp_ok = expanded is not None and addrs.expanded_authentic and addrs.first_authentic
    base = expanded if exp_ok and expanded else addrs.host
    names = list(dict.fromkeys([base, addrs.host]))
    if not (hops.dane_possible and addrs.authentic):
        return HostTLSA(False, base, names)
    try:
        found = await lookup_tlsa(resolver, addrs.host, TLSA_PORT, expanded, exp_ok)
    except DNSError as e:
        return HostTLSA(True, base, names, None, e)
    if found.records and not found.authentic:
        # Unsigned TLSA records are not usable for DANE (RFC 7672 §2.2).
        return HostTLSA(False, found.base_domain, names)
    return HostTLSA(True, found.base_domain if found.records else base, names, found)
