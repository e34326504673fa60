"""SPF macro expansion (RFC 7208 §7)."""

from __future__ import annotations

import ipaddress
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from postel.auth.errors import SPFSyntaxError
from postel.auth.spf.record import parse_macro_body

MAX_DOMAIN = 253


@dataclass
class MacroContext:
    """Values the macro letters stand for (RFC 7208 §7.2).

    ``validated_name`` computes the "p" macro on first use (RFC 7208 §7.3).
    """

    sender: str
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    helo: str
    receiver: str = "unknown"
    timestamp: int = field(default_factory=lambda: int(time.time()))
    validated_name: Callable[[str], Awaitable[str]] | None = None
    _p_cache: dict[str, str] = field(default_factory=dict)

    @property
    def local_part(self) -> str:
        local, at, _ = self.sender.rpartition("@")
        return local if at and local else "postmaster"

    @property
    def sender_domain(self) -> str:
        return self.sender.rpartition("@")[2]


def _ip_dotted(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """The "i" macro: dotted quad, or dot-separated nibbles for IPv6 (RFC 7208 §7.3)."""
    if ip.version == 4:
        return str(ip)
    return ".".join(ip.exploded.replace(":", ""))


async def _letter_value(letter: str, domain: str, ctx: MacroContext) -> str:
    lo = letter.lower()
    if lo == "s":
        return ctx.sender
    if lo == "l":
        return ctx.local_part
    if lo == "o":
        return ctx.sender_domain
    if lo == "d":
        return domain
    if lo == "i":
        return _ip_dotted(ctx.ip)
    if lo == "p":
        if ctx.validated_name is None:
            return "unknown"
        if domain not in ctx._p_cache:
            ctx._p_cache[domain] = await ctx.validated_name(domain)
        return ctx._p_cache[domain]
    if lo == "v":
        return "in-addr" if ctx.ip.version == 4 else "ip6"
    if lo == "h":
        return ctx.helo
    if lo == "c":
        return str(ctx.ip)
    if lo == "r":
        return ctx.receiver
    if lo == "t":
        return str(ctx.timestamp)
    raise SPFSyntaxError(f"invalid macro letter {letter!r}")  # pragma: no cover


def _transform(value: str, digits: int | None, reverse: bool, delims: str) -> str:
    """Split on delimiters, optionally reverse, keep the rightmost parts (RFC 7208 §7.3)."""
    seps = delims or "."
    parts = [value]
    for d in seps:
        parts = [p for piece in parts for p in piece.split(d)]
    if reverse:
        parts.reverse()
    if digits is not None and digits < len(parts):
        parts = parts[len(parts) - digits :]
    return ".".join(parts)


async def expand(value: str, domain: str, ctx: MacroContext, *, exp: bool = False) -> str:
    """Expand a macro string for current domain ``domain``; raises SPFSyntaxError."""
    out: list[str] = []
    i = 0
    n = len(value)
    while i < n:
        c = value[i]
        if c != "%":
            out.append(c)
            i += 1
            continue
        nxt = value[i + 1] if i + 1 < n else ""
        if nxt == "%":
            out.append("%")
            i += 2
        elif nxt == "_":
            out.append(" ")
            i += 2
        elif nxt == "-":
            out.append("%20")
            i += 2
        elif nxt == "{":
            end = value.find("}", i + 2)
            if end < 0:
                raise SPFSyntaxError("unterminated macro '%{'", text=value, offset=i)
            letters = "slodiphvcrt" if exp else "slodiphv"
            letter, digits, reverse, delims = parse_macro_body(
                value[i + 2 : end], letters=letters, text=value, offset=i
            )
            raw = await _letter_value(letter, domain, ctx)
            result = _transform(raw, digits, reverse, delims)
            if letter.isupper():
                # RFC 7208 §7.3: upper-case letters are URL-escaped (RFC 3986 unreserved kept).
                result = urllib.parse.quote(result, safe="-._~")
            out.append(result)
            i = end + 1
        else:
            raise SPFSyntaxError(f"invalid macro escape '%{nxt}'", text=value, offset=i)
    return "".join(out)


async def expand_domain(spec: str, domain: str, ctx: MacroContext) -> str:
    """Expand a domain-spec and shorten it to 253 octets from the left (RFC 7208 §7.3)."""
    name = (await expand(spec, domain, ctx)).rstrip(".")
    while len(name) > MAX_DOMAIN and "." in name:
        name = name.split(".", 1)[1]
    return name
