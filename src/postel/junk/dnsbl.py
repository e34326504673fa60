"""DNS blocklists of IP addresses (RFC 5782): which configured zones list the
sending IP, checked in parallel with a bound on the time for all of them."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import dns.rdtypes.IN.A

from postel.dns import Resolver
from postel.dns.errors import DNSError, NotFound

log = logging.getLogger("postel.junk")

TIMEOUT = 3.0  # seconds for all zones together
MAX_ZONES = 10


def query_name(ip: str, zone: str) -> str:
    """RFC 5782 §2.1 (IPv4: octets reversed) and §2.4 (IPv6: nibbles reversed)."""
    addr = ipaddress.ip_address(ip)
    if addr.version == 4:
        labels = str(addr).split(".")[::-1]
    else:
        labels = list(addr.exploded.replace(":", ""))[::-1]
    return ".".join(labels) + "." + zone.strip(".")


@dataclass(frozen=True)
class Listing:
    zone: str
    codes: tuple[str, ...]  # the A records, 127.0.0.2 and up (RFC 5782 §2.1)
    reason: str  # the TXT record, if any


@dataclass(frozen=True)
class Result:
    listed: tuple[Listing, ...]
    errors: tuple[str, ...]  # zones that could not answer in time, or refused


def listing_codes(addresses: Sequence[str]) -> tuple[tuple[str, ...], bool]:
    """The listing codes among *addresses*, and whether the zone signalled an
    error instead: 127.0.0.1 is not a listing (RFC 5782 §5: the test entry is
    127.0.0.2) and 127.255.255.0/24 is what large lists answer to a refused or
    rate-limited query."""
    codes: list[str] = []
    error = False
    for a in addresses:
        ip = ipaddress.ip_address(a)
        if ip in ipaddress.ip_network("127.255.255.0/24"):
            error = True
        elif ip in ipaddress.ip_network("127.0.0.0/8") and str(ip) != "127.0.0.1":
            codes.append(str(ip))
    return tuple(codes), error


async def _one(resolver: Resolver, ip: str, zone: str) -> Listing | str | None:
    name = query_name(ip, zone)
    try:
        answer = await resolver.a(name)
    except NotFound:
        return None
    except DNSError as exc:
        return f"{zone}: {exc}"
    addrs = [rd.address for rd in answer.records if isinstance(rd, dns.rdtypes.IN.A.A)]
    codes, error = listing_codes(addrs)
    if error:
        return f"{zone}: the list refused the query ({', '.join(addrs)})"
    if not codes:
        return None
    reason = ""
    try:
        reason = " ".join((await resolver.txt(name)).texts())[:300]
    except DNSError:
        pass
    return Listing(zone, codes, reason)


async def check(
    resolver: Resolver, ip: str, zones: Sequence[str], timeout: float = TIMEOUT
) -> Result:
    """Which of *zones* list *ip*; a zone that does not answer within *timeout*
    is an error, never a listing."""
    zones = list(dict.fromkeys(z.strip(".").lower() for z in zones))[:MAX_ZONES]
    tasks = {z: asyncio.create_task(_one(resolver, ip, z)) for z in zones}
    pending: set[asyncio.Task[Listing | str | None]] = set()
    if tasks:
        _, pending = await asyncio.wait(tasks.values(), timeout=timeout)
    for t in pending:
        t.cancel()
    listed: list[Listing] = []
    errors: list[str] = []
    for zone, task in tasks.items():
        if task in pending:
            errors.append(f"{zone}: no answer within {timeout:g} s")
            continue
        out = task.result()
        if isinstance(out, Listing):
            listed.append(out)
        elif isinstance(out, str):
            errors.append(out)
    if errors:
        log.info("dnsbl lookups failed", extra={"ip": ip, "errors": "; ".join(errors)})
    return Result(tuple(listed), tuple(errors))
