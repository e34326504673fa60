"""The RFC5322.From author domain for DMARC (RFC 7489 §3.1, §6.6.1)."""

from __future__ import annotations

import email.utils
import re

from postel.auth.domain import normalize_domain
from postel.auth.errors import FromHeaderError


def header_values(message: bytes, name: str) -> list[str]:
    """Unfolded values of all header fields called ``name`` (RFC 5322 §2.2.3)."""
    head = re.split(rb"\r?\n\r?\n", message, maxsplit=1)[0]
    want = name.lower().encode("ascii")
    out: list[bytes] = []
    current: bytes | None = None
    for line in re.split(rb"\r?\n", head):
        if line[:1] in (b" ", b"\t"):
            if current is not None:
                current += b" " + line.strip()
            continue
        if current is not None:
            out.append(current)
            current = None
        fname, colon, value = line.partition(b":")
        if colon and fname.rstrip(b" \t").lower() == want:
            current = value.strip()
    if current is not None:
        out.append(current)
    return [v.decode("utf-8", "replace") for v in out]


def author_domain(message: bytes) -> str | None:
    """The one From domain (A-label, lower case); None without a From field.

    Several From fields or addresses are accepted only if all domains are equal
    (RFC 7489 §6.6.1); otherwise, or when no domain can be found, FromHeaderError.
    """
    values = header_values(message, "From")
    if not values:
        return None
    domains: set[str] = set()
    for value in values:
        addrs = email.utils.getaddresses([value])
        found = False
        for _display, addr in addrs:
            if not addr or "@" not in addr:
                continue
            raw = addr.rpartition("@")[2].strip().strip("<>[]")
            dom = normalize_domain(raw)
            if dom is None:
                raise FromHeaderError(f"From header: invalid domain {raw!r} in {value!r}")
            domains.add(dom)
            found = True
        if not found:
            raise FromHeaderError(f"From header without an address domain: {value!r}")
    if len(domains) > 1:
        raise FromHeaderError(f"From header names several domains: {', '.join(sorted(domains))}")
    return domains.pop()
