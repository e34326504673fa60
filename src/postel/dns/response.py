"""Interpreting one response of a validating resolver (pure, no I/O).

The resolver asks with RD, EDNS0 and DO set (RFC 4035 §3.2.1); a validating
resolver then sets AD on authentic data (RFC 4035 §3.2.3, RFC 6840 §5.7) and
reports why it failed in an extended DNS error option (RFC 8914).

A response is read by postel.dns.wire (without building a dnspython
message); dnspython makes only the records asked for.
"""

from __future__ import annotations

from dataclasses import dataclass

import dns.edns
import dns.flags
import dns.name
import dns.rcode
import dns.rdata
import dns.rdatatype
import dns.rdtypes.ANY.CNAME

from postel.dns.ede import describe, is_dnssec_failure
from postel.dns.errors import BogusError, CnameChainError, NotFound, TemporaryError
from postel.dns.names import MAX_CNAMES
from postel.dns.wire import WireResponse, name_key


@dataclass
class Step:
    """What one response told us.

    ``records`` is None when the response ended in a CNAME whose target it did
    not resolve: ask again for ``name``.
    """

    name: dns.name.Name
    chain: list[dns.name.Name]
    records: list[dns.rdata.Rdata] | None
    authentic: bool
    ttl: int | None = None  # the smallest TTL in the answer section


def extended_error(response: WireResponse) -> tuple[int | None, str]:
    """The first DNSSEC-related EDE option, else the first one (RFC 8914 §2)."""
    found: list[tuple[int, str]] = []
    for option, data in response.options:
        if option == dns.edns.OptionType.EDE and len(data) >= 2:
            raw = data[2:]
            if raw.endswith(b"\0"):  # the text may end in a NUL (RFC 8914 §2)
                raw = raw[:-1]
            found.append((int.from_bytes(data[:2], "big"), raw.decode("utf-8", "replace")))
    for code, text in found:
        if is_dnssec_failure(code):
            return code, text
    if found:
        return found[0]
    return None, ""


def _negative_ttl(response: WireResponse) -> int | None:
    """How long a negative answer may be cached: the smaller of the SOA's TTL
    and its MINIMUM field (RFC 2308 §5); None without an SOA."""
    soa = response.soa()
    if soa is None:
        return None
    ttl = min(soa)
    answer = response.answer_ttl()  # CNAMEs followed on the way
    return ttl if answer is None else min(ttl, answer)


def _texts(qname: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> tuple[str, str]:
    """The question as the errors name it (computed only when one is raised)."""
    return qname.to_text(), dns.rdatatype.to_text(rdtype)


def interpret(
    response: WireResponse,
    qname: dns.name.Name,
    rdtype: dns.rdatatype.RdataType,
    *,
    start: dns.name.Name | None = None,
    chain: list[dns.name.Name] | None = None,
    server: str = "",
) -> Step:
    """Follow the answer from ``start`` (default ``qname``) through CNAMEs.

    ``qname``/``chain`` describe the whole lookup so far, so errors name the
    original question and the CNAME limit counts across re-queries.
    Raises NotFound, BogusError, TemporaryError (CnameChainError).
    """
    where = f" from {server}" if server else ""
    chain = list(chain or [])
    current = start if start is not None else qname
    seen = {qname, *chain}
    authentic = bool(response.flags & dns.flags.AD)
    rcode = dns.rcode.Rcode.make(response.rcode)

    if rcode == dns.rcode.SERVFAIL:
        q_text, t_text = _texts(qname, rdtype)
        code, text = extended_error(response)
        if is_dnssec_failure(code):
            raise BogusError(q_text, t_text, ede_code=code, ede_text=text, server=server)
        raise TemporaryError(
            f"{q_text} {t_text}: server failure (SERVFAIL){where}, {describe(code, text)}",
            qname=q_text,
            rdtype=t_text,
            ede_code=code,
            ede_text=text,
        )
    if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        q_text, t_text = _texts(qname, rdtype)
        code, text = extended_error(response)
        extra = f", {describe(code, text)}" if code is not None else ""
        raise TemporaryError(
            f"{q_text} {t_text}: {dns.rcode.to_text(rcode)}{where}{extra}",
            qname=q_text,
            rdtype=t_text,
            ede_code=code,
            ede_text=text,
        )

    # RFC 1034 §3.6.2 / RFC 2181 §10.1: follow the chain inside the answer section.
    while True:
        records = response.records(name_key(current), rdtype)
        if records is not None and rcode == dns.rcode.NOERROR:
            return Step(current, chain, records, authentic, response.answer_ttl())
        if rdtype == dns.rdatatype.CNAME:
            break
        cname = response.records(name_key(current), dns.rdatatype.CNAME)
        if not cname:
            break
        rd = cname[0]
        assert isinstance(rd, dns.rdtypes.ANY.CNAME.CNAME)
        target = rd.target.canonicalize()
        if target in seen:
            q_text, t_text = _texts(qname, rdtype)
            raise CnameChainError(
                f"{q_text} {t_text}: CNAME loop at {current.to_text()} -> {target.to_text()}",
                qname=q_text,
                rdtype=t_text,
            )
        if len(chain) >= MAX_CNAMES:
            q_text, t_text = _texts(qname, rdtype)
            raise CnameChainError(
                f"{q_text} {t_text}: more than {MAX_CNAMES} CNAMEs (RFC 7672 §2.2)",
                qname=q_text,
                rdtype=t_text,
            )
        chain.append(target)
        seen.add(target)
        current = target

    nxdomain = rcode == dns.rcode.NXDOMAIN
    if not nxdomain and current != (start or qname) and response.soa() is None:
        # The chain stops at a CNAME whose target this response did not cover
        # (a full NODATA answer carries the target zone's SOA, RFC 2308 §2.2).
        return Step(current, chain, None, authentic, response.answer_ttl())
    q_text, t_text = _texts(qname, rdtype)
    raise NotFound(
        q_text,
        t_text,
        nxdomain=nxdomain,
        authentic=authentic,
        name=current.to_text(),
        ttl=_negative_ttl(response),
    )
