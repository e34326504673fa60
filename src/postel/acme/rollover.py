"""DANE key rollover (RFC 7671 §8.1, "current + next"): is the next key's TLSA
record published, and has it been long enough for caches to hold it?"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from postel.dane.errors import DANEError
from postel.dane.record import TLSARecord
from postel.dns import Resolver
from postel.dns.errors import DNSError, NotFound

MIN_WAIT = dt.timedelta(minutes=5)  # even when the TLSA TTL is shorter


@dataclass(frozen=True)
class Published:
    present: bool
    ttl: int  # seconds; 0 when not known


async def tlsa_published(resolver: Resolver, host: str, digest_hex: str) -> Published:
    """Whether _25._tcp.<host> has "3 1 1 <digest>" (RFC 7672 §3.1); DNS errors
    count as not seen."""
    qname = f"_25._tcp.{host.rstrip('.')}."
    try:
        answer = await resolver.lookup(qname, "TLSA")
    except (NotFound, DNSError):
        return Published(False, 0)
    for text in answer.to_texts():
        try:
            rec = TLSARecord.from_text(text)
        except (DANEError, ValueError):
            continue
        if (rec.usage, rec.selector, rec.mtype) == (3, 1, 1) and rec.data.hex() == digest_hex:
            return Published(True, answer.ttl or 0)
    return Published(False, answer.ttl or 0)


def switch_time(
    first_seen: dt.datetime, ttl: int, min_wait: dt.timedelta = MIN_WAIT
) -> dt.datetime:
    """When the next key may be used: once the TLSA RRset without it has expired
    from every cache, at least *min_wait* after postel first saw the new record."""
    return first_seen + max(min_wait, dt.timedelta(seconds=ttl))
