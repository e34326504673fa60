"""Name and type normalisation shared by the resolvers."""

from __future__ import annotations

import functools

import dns.exception
import dns.name
import dns.rdatatype

# RFC 7672 §2.2: follow at most this many CNAMEs.
MAX_CNAMES = 16


def to_name(name: str | dns.name.Name) -> dns.name.Name:
    """Absolute, lower-case name; U-labels become A-labels (IDNA 2008, UTS 46)."""
    if isinstance(name, dns.name.Name):
        n = name
    else:
        return _from_text(name)
    if not n.is_absolute():
        n = n.concatenate(dns.name.root)
    return n.canonicalize()


@functools.lru_cache(maxsize=4096)
def _from_text(name: str) -> dns.name.Name:
    """to_name of a string, remembered: the same few names are asked again and
    again, and IDNA conversion costs more than the rest of a lookup's set-up
    (dns.name.Name is immutable, so one object may be shared)."""
    text = name.strip()
    if not text:
        raise ValueError("empty domain name")
    try:
        n = dns.name.from_unicode(text, idna_codec=dns.name.IDNA_2008_Practical)
    except (dns.exception.DNSException, UnicodeError) as e:
        raise ValueError(f"invalid domain name {name!r}: {e}") from e
    if not n.is_absolute():
        n = n.concatenate(dns.name.root)
    return n.canonicalize()


def name_text(name: str | dns.name.Name) -> str:
    """``Example.COM`` -> ``example.com.``"""
    return to_name(name).to_text()


def to_rdtype(rdtype: str | dns.rdatatype.RdataType) -> dns.rdatatype.RdataType:
    if isinstance(rdtype, dns.rdatatype.RdataType):
        return rdtype
    try:
        return dns.rdatatype.from_text(rdtype.strip().upper())
    except dns.rdatatype.UnknownRdatatype as e:
        raise ValueError(f"unknown DNS record type {rdtype!r}") from e


def rdtype_text(rdtype: str | dns.rdatatype.RdataType) -> str:
    return dns.rdatatype.to_text(to_rdtype(rdtype))
