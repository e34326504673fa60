"""Domain name helpers: normalisation and organizational domains (RFC 7489 §3.2)."""

from __future__ import annotations

import functools

import dns.exception
import dns.name
from publicsuffixlist import PublicSuffixList


# Pure functions of their argument, called several times per incoming message
# with the same few names (SPF, DMARC, DKIM): cached (BENCHMARKS.md).
@functools.lru_cache(maxsize=4096)
def normalize_domain(name: str) -> str | None:
    """Lower-case A-label form without trailing dot, or None if not a valid name.

    Requires at least two labels (RFC 7208 §4.3 "multi-label domain name").
    """
    text = name.strip().rstrip(".")
    if not text or ".." in text:
        return None
    try:
        n = dns.name.from_unicode(text, idna_codec=dns.name.IDNA_2008_Practical)
    except (dns.exception.DNSException, UnicodeError, ValueError):
        return None
    out: str = n.to_text(omit_final_dot=True).lower()
    if len(out) > 253 or "." not in out:
        return None
    return out


@functools.lru_cache(maxsize=1)
def _psl() -> PublicSuffixList:
    return PublicSuffixList()


@functools.lru_cache(maxsize=4096)
def organizational_domain(domain: str) -> str:
    """The public suffix plus one label (RFC 7489 §3.2); the domain itself if it is a suffix."""
    d = domain.lower().rstrip(".")
    org = _psl().privatesuffix(d)
    return str(org) if org else d


def aligned(a: str, b: str, *, strict: bool) -> bool:
    """Identifier alignment (RFC 7489 §3.1): equal (strict) or same org domain (relaxed)."""
    a = a.lower().rstrip(".")
    b = b.lower().rstrip(".")
    if a == b:
        return True
    if strict:
        return False
    return organizational_domain(a) == organizational_domain(b)
