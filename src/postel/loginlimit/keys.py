"""What failures are counted under: clients and accounts (pure)."""

from __future__ import annotations

import ipaddress

# The admin password is one "account" of its own (no account name has a colon).
ADMIN = "admin:"
# Longest account key stored; longer names given at login are cut.
MAX_KEY = 320


def client_key(host: str | None) -> str:
    """The IPv4 address (also when mapped into IPv6), or the IPv6 /64: one host
    usually holds a whole /64 and can pick any address in it (RFC 4291 §2.5.4).
    A host that is not an address (a test client) is its own key."""
    if not host:
        return "?"
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host[:MAX_KEY]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def account_key(account: str | None, given: str) -> str:
    """The key of a login for *account* (None: no such account) as typed (*given*).
    Known accounts and unknown names live in separate name spaces, so that
    failures for a made-up name never count against an account."""
    if account is not None:
        return "a:" + account
    return "u:" + given.lower()[:MAX_KEY]
