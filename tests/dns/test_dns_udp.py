"""DNSResolver's UDP transport: a few shared sockets, answers matched strictly.

A scripted UDP server on 127.0.0.1 in the test's own event loop records the
source port of every query and answers as the test says.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import Callable
from typing import cast

import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from postel.dns.errors import TemporaryError
from postel.dns.resolver import DNSResolver, make_query, query_wire
from postel.dns.udp import DEFAULT_QUERIES_PER_SOCKET, DEFAULT_SOCKETS

# What the server sends for one query: a list of datagrams, in order.
Script = Callable[[dns.message.Message], list[bytes]]


def a_answer(q: dns.message.Message, address: str = "192.0.2.1") -> dns.message.Message:
    r = dns.message.make_response(q)
    r.answer.append(dns.rrset.from_text(q.question[0].name, 60, "IN", "A", address))
    return r


class Server(asyncio.DatagramProtocol):
    def __init__(self, script: Script) -> None:
        self.script = script
        self.ports: list[int] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.ports.append(addr[1])
        assert self.transport is not None
        for out in self.script(dns.message.from_wire(data)):
            self.transport.sendto(out, addr)


async def serve(script: Script) -> tuple[Server, int]:
    loop = asyncio.get_running_loop()
    transport, server = await loop.create_datagram_endpoint(
        lambda: Server(script), local_addr=("127.0.0.1", 0)
    )
    return server, transport.get_extra_info("sockname")[1]


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_concurrent_lookups_share_a_few_sockets() -> None:
    server, port = await serve(lambda q: [a_answer(q).to_wire()])
    resolver = DNSResolver(["127.0.0.1"], port=port, timeout=5.0)
    fds = open_fds()
    names = [f"h{i}.example." for i in range(200)]
    answers = await asyncio.gather(*(resolver.a(n) for n in names))
    assert [a.qname for a in answers] == names
    assert all(a.to_texts() == ["192.0.2.1"] for a in answers)
    per_port = Counter(server.ports)
    # Before: one socket, so one source port, per query.
    assert len(per_port) < len(names) / 4
    assert max(per_port.values()) <= DEFAULT_QUERIES_PER_SOCKET
    # Nothing stays open once the answers are in.
    assert open_fds() <= fds
    assert server.transport is not None
    server.transport.close()


async def test_a_socket_carries_only_a_few_queries() -> None:
    # RFC 5452 §9.2: the source port changes often, also under constant load.
    server, port = await serve(lambda q: [a_answer(q).to_wire()])
    resolver = DNSResolver(["127.0.0.1"], port=port, timeout=5.0)
    await asyncio.gather(*(resolver.a(f"n{i}.example.") for i in range(300)))
    per_port = Counter(server.ports)
    assert len(per_port) >= 300 / DEFAULT_QUERIES_PER_SOCKET
    assert max(per_port.values()) <= DEFAULT_QUERIES_PER_SOCKET
    assert server.transport is not None
    server.transport.close()


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda q, r: r.__setattr__("id", (q.id + 1) % 65536), id="other-id"),
        pytest.param(
            lambda q, r: r.question.__setitem__(
                0, dns.rrset.RRset(dns.name.from_text("evil.example."), 1, dns.rdatatype.A)
            ),
            id="other-name",
        ),
        pytest.param(
            lambda q, r: r.question.__setitem__(
                0, dns.rrset.RRset(q.question[0].name, 1, dns.rdatatype.AAAA)
            ),
            id="other-type",
        ),
        pytest.param(lambda q, r: r.__setattr__("flags", 0), id="not-a-response"),
    ],
)
async def test_forged_answers_are_ignored(
    forge: Callable[[dns.message.Message, dns.message.Message], None],
) -> None:
    """RFC 5452 §4: only an answer matching id, question and QR is taken."""

    def script(q: dns.message.Message) -> list[bytes]:
        forged = a_answer(q, "198.51.100.66")
        forge(q, forged)
        return [forged.to_wire(), a_answer(q).to_wire()]

    server, port = await serve(script)
    resolver = DNSResolver(["127.0.0.1"], port=port, timeout=3.0)
    answers = await asyncio.gather(*(resolver.a(f"x{i}.example.") for i in range(5)))
    assert all(a.to_texts() == ["192.0.2.1"] for a in answers)
    assert server.transport is not None
    server.transport.close()


async def test_question_case_does_not_matter() -> None:
    def script(q: dns.message.Message) -> list[bytes]:
        r = a_answer(q)
        r.question[0] = dns.rrset.RRset(
            dns.name.from_text(q.question[0].name.to_text().upper()), 1, dns.rdatatype.A
        )
        return [r.to_wire()]

    server, port = await serve(script)
    answer = await DNSResolver(["127.0.0.1"], port=port).a("mixed.example.")
    assert answer.to_texts() == ["192.0.2.1"]
    assert server.transport is not None
    server.transport.close()


@pytest.mark.parametrize("rcode", [dns.rcode.REFUSED, dns.rcode.SERVFAIL])
async def test_error_answer_without_question_is_taken(rcode: dns.rcode.Rcode) -> None:
    def script(q: dns.message.Message) -> list[bytes]:
        r = dns.message.make_response(q)
        r.set_rcode(rcode)
        r.question = []
        return [r.to_wire()]

    server, port = await serve(script)
    resolver = DNSResolver(["127.0.0.1"], port=port, timeout=3.0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(TemporaryError, match=dns.rcode.to_text(rcode)):
        await resolver.a("err.example.")
    assert loop.time() - started < 1.0  # the answer, not a timeout
    assert server.transport is not None
    server.transport.close()


async def test_silent_server_times_out_and_closes_its_sockets() -> None:
    server, port = await serve(lambda q: [])
    resolver = DNSResolver(["127.0.0.1"], port=port, timeout=0.6, attempt_timeout=0.2)
    fds = open_fds()
    loop = asyncio.get_running_loop()
    started = loop.time()
    results = await asyncio.gather(
        *(resolver.a(f"s{i}.example.") for i in range(20)), return_exceptions=True
    )
    assert all(isinstance(r, TemporaryError) for r in results)
    assert loop.time() - started < 2.0
    assert open_fds() <= fds
    assert server.transport is not None
    server.transport.close()


async def test_cancelled_lookup_leaves_nothing_open() -> None:
    server, port = await serve(lambda q: [])
    resolver = DNSResolver(["127.0.0.1"], port=port, timeout=5.0)
    fds = open_fds()
    tasks = [asyncio.create_task(resolver.a(f"c{i}.example.")) for i in range(DEFAULT_SOCKETS * 3)]
    await asyncio.sleep(0.1)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert open_fds() <= fds
    assert server.transport is not None
    server.transport.close()


@pytest.mark.parametrize("name", ["example.com.", ".", "_mta-sts.xn--bcher-kva.example."])
@pytest.mark.parametrize("rdtype", ["A", "AAAA", "MX", "TXT", "TLSA", "CNAME", "PTR"])
def test_query_wire_is_dnspythons(name: str, rdtype: str) -> None:
    n, t = dns.name.from_text(name), dns.rdatatype.from_text(rdtype)
    query = make_query(n, t)
    query.id = 0
    assert query_wire(n, t) == query.to_wire()
