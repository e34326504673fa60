"""A short-lived answer cache in front of the resolver for incoming mail.

Verifying a message (SPF, DKIM, DMARC, RFC 7208/6376/7489) and naming the
client ask the same few names again and again while one sender sends: every
lookup through dnspython costs a socket and about a millisecond of CPU, about
half of the work per message (BENCHMARKS.md). Answers and NotFound (negative
caching, RFC 2308 §5) are kept for at most ``max_age`` seconds: postel.dns
does not expose record TTLs, so the bound is short. Temporary and DNSSEC
errors are never cached. Concurrent lookups of the same name and type share
one query.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict

from postel.dns import Answer, NotFound, Resolver

DEFAULT_MAX_AGE = 30.0
DEFAULT_MAX_ENTRIES = 4096


class CachingResolver(Resolver):
    def __init__(
        self,
        resolver: Resolver,
        *,
        max_age: float = DEFAULT_MAX_AGE,
        max_entries: int = DEFAULT_MAX_ENTRIES,
    ) -> None:
        self.resolver = resolver
        self.max_age = max_age
        self.max_entries = max_entries
        self._cache: OrderedDict[tuple[str, str], tuple[float, Answer | NotFound]] = OrderedDict()
        self._inflight: dict[tuple[str, str], asyncio.Future[Answer | NotFound]] = {}

    async def lookup(self, name: str, rdtype: str) -> Answer:
        key = (name.lower().rstrip(".") + ".", rdtype.upper())
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None:
            if hit[0] > now:
                return _result(hit[1])
            del self._cache[key]
        pending = self._inflight.get(key)
        if pending is not None:
            return _result(await asyncio.shield(pending))
        fut: asyncio.Future[Answer | NotFound] = asyncio.get_running_loop().create_future()
        self._inflight[key] = fut
        try:
            try:
                value: Answer | NotFound = await self.resolver.lookup(name, rdtype)
            except NotFound as exc:
                value = exc
            except BaseException as exc:
                if not fut.done():
                    fut.set_exception(exc)
                    fut.exception()  # retrieved: no "never retrieved" warning
                raise
            fut.set_result(value)
            self._cache[key] = (time.monotonic() + self.max_age, value)
            while len(self._cache) > self.max_entries:
                self._cache.popitem(last=False)
            return _result(value)
        finally:
            self._inflight.pop(key, None)


def _result(value: Answer | NotFound) -> Answer:
    if isinstance(value, NotFound):
        raise NotFound(
            value.qname,
            value.rdtype,
            nxdomain=value.nxdomain,
            authentic=value.authentic,
            name=value.name,
        )
    return value
