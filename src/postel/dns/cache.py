"""A short-lived answer cache in front of the resolver.

Incoming mail (SPF, DKIM, DMARC, RFC 7208/6376/7489; the client's name) and
outgoing delivery (MX, addresses, TLSA, MTA-STS TXT for each message to a
domain) ask the same few names again and again: every lookup through
the resolver costs a round trip and about 0.2 ms of CPU (bench/dns_cpu.py).
Answers and NotFound (negative caching, RFC 2308 §5) are kept for their TTL
(for NotFound the SOA's, RFC 2308 §5), at most ``max_age`` seconds; the
DNSSEC status (AD bit) is kept with them. Temporary and DNSSEC errors are
never cached. Concurrent lookups of the same name and type share one query.
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
        self._inflight: dict[tuple[str, str], asyncio.Task[Answer | NotFound]] = {}

    def _cached(self, key: tuple[str, str]) -> Answer | NotFound | None:
        """The unexpired cached value of *key* (an expired one is dropped)."""
        hit = self._cache.get(key)
        if hit is None:
            return None
        if hit[0] > time.monotonic():
            return hit[1]
        del self._cache[key]
        return None

    def peek(self, name: str, rdtype: str) -> Answer | NotFound | None:
        """The cached answer (or NotFound) for *name*, None when not cached.

        Lets a caller skip a task and an await when the answer is known.
        """
        return self._cached(_key(name, rdtype))

    async def lookup(self, name: str, rdtype: str) -> Answer:
        key = _key(name, rdtype)
        cached = self._cached(key)
        if cached is not None:
            return _result(cached)
        task = self._inflight.get(key)
        if task is None:
            # A task of its own, so that a caller being cancelled (a session
            # closing) does not cancel the lookup others wait for.
            task = asyncio.get_running_loop().create_task(self._fetch(key, name, rdtype))
            task.add_done_callback(_retrieve)
            self._inflight[key] = task
        return _result(await asyncio.shield(task))

    async def _fetch(self, key: tuple[str, str], name: str, rdtype: str) -> Answer | NotFound:
        try:
            value: Answer | NotFound
            try:
                value = await self.resolver.lookup(name, rdtype)
            except NotFound as exc:
                value = exc
            age = self.max_age if value.ttl is None else min(self.max_age, value.ttl)
            if age > 0:
                self._cache[key] = (time.monotonic() + age, value)
                while len(self._cache) > self.max_entries:
                    self._cache.popitem(last=False)
            return value
        finally:
            self._inflight.pop(key, None)


def _key(name: str, rdtype: str) -> tuple[str, str]:
    return (name.lower().rstrip(".") + ".", rdtype.upper())


def _retrieve(task: asyncio.Task[Answer | NotFound]) -> None:
    """Mark a failed lookup's exception as seen even when every caller has gone."""
    if not task.cancelled():
        task.exception()


def _result(value: Answer | NotFound) -> Answer:
    if isinstance(value, NotFound):
        # A fresh exception per caller (a raised exception gathers traceback and
        # context), copied without formatting its message again.
        exc = NotFound.__new__(NotFound, *value.args)
        exc.__dict__.update(value.__dict__)
        raise exc
    return value
