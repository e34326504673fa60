"""MX host patterns of an MTA-STS policy: syntax (RFC 8461 §3.2) and matching (§4.1)."""

from __future__ import annotations

import re
from collections.abc import Iterable

import idna

_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?")
WILDCARD_PREFIX = "*."


def mx_pattern_error(pattern: str) -> str | None:
    """Why ``pattern`` is not a valid policy mx value, or None when it is.

    RFC 8461 §3.2: ``["*."] Domain`` with Domain per RFC 5321 in A-labels.
    """
    domain = pattern.removeprefix(WILDCARD_PREFIX)
    if not domain:
        return "empty host name"
    if not domain.isascii():
        return f"{pattern!r} is not in A-labels (write internationalised names as xn--)"
    if len(domain) > 253:
        return f"host name {pattern!r} longer than 253 characters"
    for label in domain.split("."):
        if label == "*":
            return f"{pattern!r}: a wildcard is only allowed as the whole left-most label"
        if not _LABEL.fullmatch(label):
            return f"{pattern!r}: invalid label {label!r} (letters, digits, inner hyphens, 1-63)"
        if label[:4].lower() == "xn--" and not _valid_a_label(label):
            return f"{pattern!r}: label {label!r} is not a valid A-label"
    return None


def _valid_a_label(label: str) -> bool:
    """IDNA 2008 (RFC 5891 §5.4) check of an ``xn--`` label."""
    try:
        idna.decode(label)
    except (idna.IDNAError, UnicodeError):
        return False
    return True


def host_matches(pattern: str, host: str) -> bool:
    """Whether MX ``host`` matches policy ``pattern`` (RFC 8461 §4.1).

    Comparison is case-insensitive and ignores a trailing dot on the host; a
    ``*.`` pattern matches exactly one additional left-most label.
    """
    host = host.lower().removesuffix(".")
    pattern = pattern.lower()
    if pattern.startswith(WILDCARD_PREFIX):
        first, dot, rest = host.partition(".")
        return bool(first) and bool(dot) and rest == pattern[len(WILDCARD_PREFIX) :]
    return host == pattern


def matches_any(patterns: Iterable[str], host: str) -> bool:
    """Whether ``host`` matches one of ``patterns``."""
    return any(host_matches(p, host) for p in patterns)
