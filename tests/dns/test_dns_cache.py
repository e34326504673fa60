"""CachingResolver: answers and NotFound cached briefly, errors not, shared lookups."""

from __future__ import annotations

import asyncio

import pytest

from postel.dns import Answer, NotFound, Resolver, TemporaryError
from postel.dns.cache import CachingResolver


class Counting(Resolver):
    def __init__(self, delay: float = 0.0) -> None:
        self.calls: list[tuple[str, str]] = []
        self.delay = delay
        self.fail_temp = False

    async def lookup(self, name: str, rdtype: str) -> Answer:
        self.calls.append((name, rdtype))
        await asyncio.sleep(self.delay)
        if self.fail_temp:
            raise TemporaryError("servfail", qname=name, rdtype=rdtype)
        if name.startswith("nx."):
            raise NotFound(name, rdtype, nxdomain=True)
        return Answer(qname=name, name=name, rdtype=rdtype, records=[], authentic=False)


async def test_answers_and_notfound_are_cached() -> None:
    inner = Counting()
    r = CachingResolver(inner, max_age=30)
    a1 = await r.txt("example.org")
    a2 = await r.lookup("EXAMPLE.org.", "txt")
    assert a1 is a2 and len(inner.calls) == 1
    for _ in range(2):
        with pytest.raises(NotFound) as e:
            await r.txt("nx.example.org")
        assert e.value.nxdomain
    assert len(inner.calls) == 2


async def test_expired_and_temporary_errors_are_asked_again() -> None:
    inner = Counting()
    r = CachingResolver(inner, max_age=0.01)
    await r.txt("example.org")
    await asyncio.sleep(0.02)
    await r.txt("example.org")
    assert len(inner.calls) == 2
    inner.fail_temp = True
    r2 = CachingResolver(inner)
    for _ in range(2):
        with pytest.raises(TemporaryError):
            await r2.txt("other.example")
    assert len(inner.calls) == 4


async def test_concurrent_lookups_share_one_query_and_survive_a_cancelled_caller() -> None:
    inner = Counting(delay=0.05)
    r = CachingResolver(inner)
    first = asyncio.create_task(r.lookup("1.0.0.127.in-addr.arpa", "PTR"))
    await asyncio.sleep(0.01)
    second = asyncio.create_task(r.lookup("1.0.0.127.in-addr.arpa", "PTR"))
    await asyncio.sleep(0.01)
    first.cancel()  # e.g. the session that asked first has closed
    answer = await second
    assert answer.rdtype == "PTR"
    assert len(inner.calls) == 1
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_bounded_size() -> None:
    inner = Counting()
    r = CachingResolver(inner, max_entries=3)
    for i in range(5):
        await r.txt(f"d{i}.example")
    await r.txt("d0.example")  # evicted: asked again
    assert len(inner.calls) == 6


async def test_peek_gives_cached_answers_only() -> None:
    inner = Counting()
    r = CachingResolver(inner, max_age=30)
    assert r.peek("example.org", "TXT") is None
    answer = await r.txt("example.org")
    assert r.peek("EXAMPLE.org.", "txt") is answer
    with pytest.raises(NotFound):
        await r.txt("nx.example.org")
    assert isinstance(r.peek("nx.example.org", "TXT"), NotFound)
    assert len(inner.calls) == 2  # peek never asks


async def test_peek_ignores_expired_answers() -> None:
    inner = Counting()
    r = CachingResolver(inner, max_age=0.01)
    await r.txt("example.org")
    await asyncio.sleep(0.05)
    assert r.peek("example.org", "TXT") is None


async def test_cached_notfound_is_a_fresh_equal_exception() -> None:
    inner = Counting()
    r = CachingResolver(inner, max_age=30)
    seen = []
    for _ in range(3):
        with pytest.raises(NotFound) as e:
            await r.lookup("nx.example.org", "MX")
        seen.append(e.value)
    first, second, third = seen
    assert second is not first and third is not second
    for exc in seen:
        assert str(exc) == "nx.example.org MX: no such name (NXDOMAIN)"
        assert (exc.qname, exc.rdtype, exc.nxdomain, exc.authentic, exc.name) == (
            "nx.example.org",
            "MX",
            True,
            False,
            "nx.example.org",
        )
    assert len(inner.calls) == 1


class WithTTL(Resolver):
    """Answers with TTL 5 s, NotFound (nx.*) with negative TTL 2 s, or none."""

    def __init__(self, ttl: int | None) -> None:
        self.ttl = ttl
        self.calls = 0

    async def lookup(self, name: str, rdtype: str) -> Answer:
        self.calls += 1
        if name.startswith("nx."):
            raise NotFound(name, rdtype, nxdomain=True, ttl=None if self.ttl is None else 2)
        return Answer(name, name, rdtype, [], authentic=True, ttl=self.ttl)


async def test_records_ttl_bounds_the_age(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr("postel.dns.cache.time.monotonic", lambda: now[0])
    inner = WithTTL(5)
    r = CachingResolver(inner, max_age=30)
    first = await r.tlsa("_25._tcp.mx.example.org")
    now[0] += 4
    assert await r.tlsa("_25._tcp.mx.example.org") is first and inner.calls == 1
    assert first.authentic  # the DNSSEC status is cached with the answer
    now[0] += 2  # 6 s: past the TTL, well within max_age
    await r.tlsa("_25._tcp.mx.example.org")
    assert inner.calls == 2
    for step in (0, 1.5, 1):  # negative answers: their own TTL (2 s)
        now[0] += step
        with pytest.raises(NotFound):
            await r.mx("nx.example.org")
    assert inner.calls == 4  # asked at 0 and again at 2.5 s


async def test_ttl_zero_is_not_cached_and_max_age_still_bounds() -> None:
    zero = WithTTL(0)
    r = CachingResolver(zero, max_age=30)
    await r.a("example.org")
    await r.a("example.org")
    assert zero.calls == 2
    long = WithTTL(86400)
    r = CachingResolver(long, max_age=0.01)
    await r.a("example.org")
    await asyncio.sleep(0.02)
    await r.a("example.org")
    assert long.calls == 2
