"""TLSA base domain and allowed server names (RFC 7672 §2.2.3, §3.2.2)."""

from __future__ import annotations

from collections.abc import Iterable

import dns.exception
import dns.name

from postel.dane.errors import InvalidNameError


def normalize_name(name: str) -> str:
    """Lower-case A-label form of a host name without trailing dot.

    Raises InvalidNameError for names that are not valid DNS names.
    """
    text = name.strip()
    if not text or text == ".":
        raise InvalidNameError("empty name", name=name)
    try:
        parsed = dns.name.from_text(text)
    except (dns.exception.DNSException, UnicodeError, ValueError) as exc:
        raise InvalidNameError(str(exc) or type(exc).__name__, name=name) from exc
    return parsed.to_text(omit_final_dot=True).lower()


def tlsa_base_domain(
    host: str, expanded: str | None = None, expanded_authentic: bool = False
) -> str:
    """TLSA base domain for a server host name (RFC 7672 §2.2.3).

    When the host name is a CNAME alias and the expansion was DNSSEC-authentic,
    the base domain is the expanded (canonical) name, else the original host.
    """
    original = normalize_name(host)
    if expanded and expanded_authentic:
        return normalize_name(expanded)
    return original


def tlsa_qname(base_domain: str, port: int = 25, protocol: str = "tcp") -> str:
    """Absolute owner name of the TLSA RRset: ``_<port>._<protocol>.<base>.`` (RFC 6698 §3)."""
    if not 0 < port < 65536:
        raise ValueError(f"port {port} out of range 1..65535")
    return f"_{port}._{protocol}.{normalize_name(base_domain)}."


def allowed_names(
    host: str,
    expanded: str | None = None,
    expanded_authentic: bool = False,
    extra: Iterable[str] = (),
) -> tuple[str, ...]:
    """Reference identifiers for DANE-TA name checks (RFC 7672 §3.2.2).

    ``host`` is the original next-hop name: the MX host name, or the recipient
    domain itself when there was no MX record. When its CNAME expansion
    ``expanded`` was DNSSEC-authentic, the expanded name is allowed too and comes
    first, being the TLSA base domain (and thus the SNI name, RFC 7672 §8.1).
    ``extra`` adds names the caller's policy also accepts. Duplicates are removed,
    order is kept.
    """
    names = [tlsa_base_domain(host, expanded, expanded_authentic), normalize_name(host)]
    names.extend(normalize_name(n) for n in extra)
    return tuple(dict.fromkeys(names))
