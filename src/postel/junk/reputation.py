"""Sender reputation from the user's own verdicts (pure).

Only verified identities count, never an unverified From: the DMARC-aligned
From domain, the domains of passing DKIM signatures, the SPF-passing MAIL FROM
domain, and the sending IP's network (/24 for IPv4, /64 for IPv6). The first
identity, in that order, on which the user's verdicts clearly agree decides.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from postel.junk.classify import Counts

CLEAR = 3  # one kind of verdict at least this many times the other


@dataclass(frozen=True)
class Verified:
    """What the receiving checks verified about a message's sender."""

    dmarc_from: str | None = None  # RFC 7489 §3.1 aligned and passing
    dkim: tuple[str, ...] = ()  # d= of passing signatures
    spf: str | None = None  # MAIL FROM (or HELO) domain with SPF pass
    ip: str | None = None


@functools.lru_cache(maxsize=4096)  # per filing; the ipaddress objects are slow to make
def network(ip: str) -> str:
    addr = ipaddress.ip_address(ip)
    prefix = 24 if addr.version == 4 else 64
    return str(ipaddress.ip_network(f"{addr}/{prefix}", strict=False))


def identities(v: Verified) -> list[str]:
    """The identities of *v*, strongest first, once each."""
    out: list[str] = []
    if v.dmarc_from:
        out.append(f"dmarc:{v.dmarc_from.lower()}")
    out.extend(f"dkim:{d.lower()}" for d in sorted(set(v.dkim)))
    if v.spf:
        out.append(f"spf:{v.spf.lower()}")
    if v.ip:
        out.append(f"ip:{network(v.ip)}")
    return list(dict.fromkeys(out))


Reputation = Literal["good", "bad"]


def judge(ids: Iterable[str], counts: Mapping[str, Counts]) -> tuple[Reputation, str] | None:
    """The user's clear verdict on the first identity that has one."""
    for ident in ids:
        c = counts.get(ident)
        if c is None or c.ham + c.spam == 0:
            continue
        if c.ham >= CLEAR * c.spam and c.ham > 0:
            return "good", ident
        if c.spam >= CLEAR * c.ham and c.spam > 0:
            return "bad", ident
    return None
