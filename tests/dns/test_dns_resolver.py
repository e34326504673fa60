"""DNSResolver and `postel dns` against a scripted DNS server on 127.0.0.1."""

from __future__ import annotations

import socket
import socketserver
import struct
import threading
import time
from collections.abc import Callable, Iterator

import dns.edns
import dns.flags
import dns.message
import dns.rcode
import dns.rrset
import pytest
from click.testing import CliRunner

from postel.cli.dns import command as dns_command
from postel.dns.check import check_validating
from postel.dns.errors import BogusError, CnameChainError, NotFound, TemporaryError
from postel.dns.resolver import DNSResolver

Handler = Callable[[dns.message.Message, bool], dns.message.Message | None]


class FakeDNS:
    """UDP+TCP server on one loopback port; ``handler(query, tcp)`` makes the reply
    (None: no reply, so the client times out). Queries are recorded."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.queries: list[tuple[str, str, bool]] = []
        fake = self

        class UDP(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                data, sock = self.request
                reply = fake._reply(data, tcp=False)
                if reply is not None:
                    sock.sendto(reply, self.client_address)

        class TCP(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                head = self.request.recv(2)
                (length,) = struct.unpack("!H", head)
                data = b""
                while len(data) < length:
                    data += self.request.recv(length - len(data))
                reply = fake._reply(data, tcp=True)
                if reply is not None:
                    self.request.sendall(struct.pack("!H", len(reply)) + reply)

        # The UDP port the kernel picks may be taken for TCP by another process.
        for _ in range(50):
            self.udp = socketserver.ThreadingUDPServer(("127.0.0.1", 0), UDP)
            self.port = self.udp.server_address[1]
            try:
                self.tcp = socketserver.ThreadingTCPServer(("127.0.0.1", self.port), TCP)
                break
            except OSError:
                self.udp.server_close()
        else:
            raise RuntimeError("no loopback port free for both UDP and TCP")
        self.threads = [
            threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
            for s in (self.udp, self.tcp)
        ]
        for t in self.threads:
            t.start()

    def _reply(self, data: bytes, tcp: bool) -> bytes | None:
        q = dns.message.from_wire(data)
        question = q.question[0]
        self.queries.append((question.name.to_text(), dns.rdatatype.to_text(question.rdtype), tcp))
        r = self.handler(q, tcp)
        return None if r is None else r.to_wire()

    def close(self) -> None:
        for s in (self.udp, self.tcp):
            s.shutdown()
            s.server_close()


@pytest.fixture
def fake() -> Iterator[Callable[[Handler], FakeDNS]]:
    servers: list[FakeDNS] = []

    def make(handler: Handler) -> FakeDNS:
        servers.append(FakeDNS(handler))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


Zone = dict[tuple[str, str], list[str]]


def zone_handler(zone: Zone, *, ad: bool = True, full_chain: bool = True) -> Handler:
    """Answers from ``zone``; with full_chain the answer follows CNAMEs like a
    recursive resolver, otherwise only the first CNAME is returned."""

    def handle(q: dns.message.Message, tcp: bool) -> dns.message.Message:
        r = dns.message.make_response(q)
        if ad:
            r.flags |= dns.flags.AD
        name = q.question[0].name.to_text().lower()
        rdtype = dns.rdatatype.to_text(q.question[0].rdtype)
        for _ in range(20):
            if (name, rdtype) in zone:
                r.answer.append(
                    dns.rrset.from_text_list(name, 60, "IN", rdtype, zone[name, rdtype])
                )
                return r
            if rdtype != "CNAME" and (name, "CNAME") in zone:
                target = zone[name, "CNAME"][0]
                r.answer.append(dns.rrset.from_text(name, 60, "IN", "CNAME", target))
                if not full_chain:
                    return r
                name = target
                continue
            break
        if not any(k[0] == name for k in zone):
            r.set_rcode(dns.rcode.NXDOMAIN)
        r.authority.append(dns.rrset.from_text("example.", 60, "IN", "SOA", "ns. h. 1 2 3 4 5"))
        return r

    return handle


ZONE: Zone = {
    ("example.", "MX"): ["10 mx.example."],
    ("mx.example.", "A"): ["192.0.2.25"],
    ("www.example.", "CNAME"): ["web.example."],
    ("web.example.", "CNAME"): ["mx.example."],
    ("_mta-sts.example.", "TXT"): ['"v=STSv1; " "id=20240101"'],
}


async def test_lookup_mx_authentic(fake: Callable[[Handler], FakeDNS]) -> None:
    srv = fake(zone_handler(ZONE))
    r = DNSResolver(["127.0.0.1"], port=srv.port, timeout=3)
    answer = await r.mx("Example")
    assert answer.qname == "example."
    assert answer.rdtype == "MX"
    assert answer.authentic is True
    assert [rd.to_text() for rd in answer.records] == ["10 mx.example."]
    assert srv.queries == [("example.", "MX", False)]


async def test_txt_strings_joined(fake: Callable[[Handler], FakeDNS]) -> None:
    srv = fake(zone_handler(ZONE, ad=False))
    answer = await DNSResolver(["127.0.0.1"], port=srv.port).txt("_mta-sts.example.")
    assert answer.texts() == ["v=STSv1; id=20240101"]
    assert answer.authentic is False


async def test_cname_chain_in_one_response(fake: Callable[[Handler], FakeDNS]) -> None:
    srv = fake(zone_handler(ZONE))
    answer = await DNSResolver(["127.0.0.1"], port=srv.port).a("www.example.")
    assert answer.name == "mx.example."
    assert answer.cname_chain == ["web.example.", "mx.example."]
    assert len(srv.queries) == 1


async def test_incomplete_chain_is_requeried(fake: Callable[[Handler], FakeDNS]) -> None:
    srv = fake(zone_handler(ZONE, full_chain=False))
    answer = await DNSResolver(["127.0.0.1"], port=srv.port).a("www.example.")
    assert answer.name == "mx.example."
    assert answer.cname_chain == ["web.example.", "mx.example."]
    assert [q[0] for q in srv.queries] == ["www.example.", "web.example.", "mx.example."]


async def test_authentic_only_if_every_step_is(fake: Callable[[Handler], FakeDNS]) -> None:
    inner = zone_handler(ZONE, full_chain=False)

    def handler(q: dns.message.Message, tcp: bool) -> dns.message.Message:
        r = inner(q, tcp)
        if q.question[0].name.to_text() == "web.example.":
            r.flags &= ~dns.flags.AD
        return r

    srv = fake(handler)
    answer = await DNSResolver(["127.0.0.1"], port=srv.port).a("www.example.")
    assert answer.authentic is False


async def test_cname_loop_across_queries(fake: Callable[[Handler], FakeDNS]) -> None:
    zone: Zone = {("a.example.", "CNAME"): ["b.example."], ("b.example.", "CNAME"): ["a.example."]}
    srv = fake(zone_handler(zone, full_chain=False))
    with pytest.raises(CnameChainError):
        await DNSResolver(["127.0.0.1"], port=srv.port).a("a.example.")
    assert len(srv.queries) == 2


async def test_nxdomain_and_nodata(fake: Callable[[Handler], FakeDNS]) -> None:
    srv = fake(zone_handler(ZONE))
    r = DNSResolver(["127.0.0.1"], port=srv.port)
    with pytest.raises(NotFound) as ei:
        await r.a("nope.example.")
    assert ei.value.nxdomain is True
    with pytest.raises(NotFound) as ei:
        await r.tlsa("example.")
    assert ei.value.nxdomain is False
    assert ei.value.authentic is True


async def test_truncated_udp_falls_back_to_tcp(fake: Callable[[Handler], FakeDNS]) -> None:
    inner = zone_handler(ZONE)

    def handler(q: dns.message.Message, tcp: bool) -> dns.message.Message:
        if tcp:
            return inner(q, tcp)
        r = dns.message.make_response(q)
        r.flags |= dns.flags.TC
        return r

    srv = fake(handler)
    answer = await DNSResolver(["127.0.0.1"], port=srv.port).mx("example.")
    assert answer.records
    assert [q[2] for q in srv.queries] == [False, True]


def servfail(ede: tuple[int, str] | None) -> Handler:
    def handle(q: dns.message.Message, tcp: bool) -> dns.message.Message:
        r = dns.message.make_response(q)
        r.set_rcode(dns.rcode.SERVFAIL)
        if ede:
            r.use_edns(0, 0, 1232, options=[dns.edns.EDEOption(ede[0], ede[1])])
        return r

    return handle


async def test_bogus_with_ede(fake: Callable[[Handler], FakeDNS]) -> None:
    srv = fake(servfail((9, "no DNSKEY matches DS")))
    with pytest.raises(BogusError) as ei:
        await DNSResolver(["127.0.0.1"], port=srv.port).a("bogus.example.")
    assert ei.value.ede_code == 9
    assert ei.value.ede_text == "no DNSKEY matches DS"


async def test_bogus_is_not_retried_on_next_server(fake: Callable[[Handler], FakeDNS]) -> None:
    srv = fake(servfail((6, "")))
    # The same server listed twice stands for two servers.
    r = DNSResolver(["127.0.0.1", "127.0.0.1"], port=srv.port)
    with pytest.raises(BogusError):
        await r.a("mx.example.")
    assert len(srv.queries) == 1


async def test_servfail_without_ede_is_temporary(fake: Callable[[Handler], FakeDNS]) -> None:
    srv = fake(servfail(None))
    with pytest.raises(TemporaryError) as ei:
        await DNSResolver(["127.0.0.1"], port=srv.port).a("x.example.")
    assert not isinstance(ei.value, BogusError)
    assert "SERVFAIL" in str(ei.value)


async def test_timeout_is_temporary_and_bounded(fake: Callable[[Handler], FakeDNS]) -> None:
    srv = fake(lambda q, tcp: None)
    r = DNSResolver(["127.0.0.1"], port=srv.port, timeout=0.6, attempt_timeout=0.2)
    start = time.monotonic()
    with pytest.raises(TemporaryError, match="timeout"):
        await r.a("slow.example.")
    assert time.monotonic() - start < 1.5
    # Lost UDP is asked again while the lookup's time lasts.
    assert 2 <= len(srv.queries) <= 3


async def test_lost_packet_is_retried(fake: Callable[[Handler], FakeDNS]) -> None:
    inner = zone_handler(ZONE)
    seen: list[int] = []

    def handler(q: dns.message.Message, tcp: bool) -> dns.message.Message | None:
        seen.append(1)
        return None if len(seen) == 1 else inner(q, tcp)

    srv = fake(handler)
    r = DNSResolver(["127.0.0.1"], port=srv.port, timeout=2, attempt_timeout=0.2)
    assert (await r.mx("example.")).records


async def test_next_server_after_refused(fake: Callable[[Handler], FakeDNS]) -> None:
    calls: list[str] = []

    def handler(q: dns.message.Message, tcp: bool) -> dns.message.Message:
        calls.append("x")
        if len(calls) == 1:
            r = dns.message.make_response(q)
            r.set_rcode(dns.rcode.REFUSED)
            return r
        return zone_handler(ZONE)(q, tcp)

    srv = fake(handler)
    # The same server listed twice stands for two servers.
    r = DNSResolver(["127.0.0.1", "127.0.0.1"], port=srv.port)
    answer = await r.mx("example.")
    assert answer.records
    assert len(calls) == 2


async def test_all_servers_failing_lists_each(fake: Callable[[Handler], FakeDNS]) -> None:
    srv = fake(servfail(None))
    r = DNSResolver(["127.0.0.1", "127.0.0.1"], port=srv.port)
    with pytest.raises(TemporaryError) as ei:
        await r.a("x.example.")
    assert str(ei.value).count("SERVFAIL") == 2


async def test_unreachable_server_is_temporary() -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    r = DNSResolver(["127.0.0.1"], port=port, timeout=0.5, attempt_timeout=0.3)
    with pytest.raises(TemporaryError):
        await r.a("x.example.")


async def test_invalid_name_is_value_error() -> None:
    with pytest.raises(ValueError, match="invalid domain name"):
        await DNSResolver(["127.0.0.1"]).a("a..b")


def test_default_nameservers_from_resolv_conf() -> None:
    assert DNSResolver().nameservers  # /etc/resolv.conf or 127.0.0.1


# check_validating and the CLI


def check_handler(ad: bool, bogus_answered: bool) -> Handler:
    good = zone_handler({(".", "SOA"): ["a. b. 1 2 3 4 5"]}, ad=ad)

    def handle(q: dns.message.Message, tcp: bool) -> dns.message.Message:
        if q.question[0].name.to_text() == "dnssec-failed.org.":
            if bogus_answered:
                return zone_handler({("dnssec-failed.org.", "A"): ["192.0.2.1"]}, ad=False)(q, tcp)
            return servfail((9, "DS mismatch"))(q, tcp)
        return good(q, tcp)

    return handle


async def test_check_validating_real_resolver(fake: Callable[[Handler], FakeDNS]) -> None:
    srv = fake(check_handler(ad=True, bogus_answered=False))
    ok, msg = await check_validating(DNSResolver(["127.0.0.1"], port=srv.port))
    assert ok is True
    assert "EDE 9" in msg


def test_cli_check_resolver_ok(fake: Callable[[Handler], FakeDNS]) -> None:
    srv = fake(check_handler(ad=True, bogus_answered=False))
    result = CliRunner().invoke(
        dns_command, ["check-resolver", "--nameserver", "127.0.0.1", "--port", str(srv.port)]
    )
    assert result.exit_code == 0, result.output
    assert "validates DNSSEC" in result.output
    assert "127.0.0.1" in result.output


@pytest.mark.parametrize(("ad", "bogus"), [(False, False), (True, True)])
def test_cli_check_resolver_not_validating(
    fake: Callable[[Handler], FakeDNS], ad: bool, bogus: bool
) -> None:
    srv = fake(check_handler(ad=ad, bogus_answered=bogus))
    result = CliRunner().invoke(
        dns_command, ["check-resolver", "--nameserver", "127.0.0.1", "--port", str(srv.port)]
    )
    assert result.exit_code == 1
    assert "does not validate DNSSEC" in result.output


def test_cli_lookup_json(fake: Callable[[Handler], FakeDNS]) -> None:
    import json

    srv = fake(zone_handler(ZONE))
    result = CliRunner().invoke(
        dns_command,
        ["lookup", "--nameserver", "127.0.0.1", "--port", str(srv.port), "www.example", "A"],
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out == {
        "qname": "www.example.",
        "name": "mx.example.",
        "rdtype": "A",
        "authentic": True,
        "cname_chain": ["web.example.", "mx.example."],
        "records": ["192.0.2.25"],
    }


def test_cli_lookup_not_found(fake: Callable[[Handler], FakeDNS]) -> None:
    srv = fake(zone_handler(ZONE))
    result = CliRunner().invoke(
        dns_command, ["lookup", "--nameserver", "127.0.0.1", "--port", str(srv.port), "no.example"]
    )
    assert result.exit_code == 1
    assert '"nxdomain": true' in result.output


async def test_ttl_is_the_smallest_of_every_step(fake: Callable[[Handler], FakeDNS]) -> None:
    inner = zone_handler(ZONE, full_chain=False)

    def handler(q: dns.message.Message, tcp: bool) -> dns.message.Message:
        r = inner(q, tcp)
        if q.question[0].name.to_text() == "web.example.":
            for rrset in r.answer:
                rrset.ttl = 7  # one CNAME of the chain expires first
        return r

    srv = fake(handler)
    resolver = DNSResolver(["127.0.0.1"], port=srv.port)
    assert (await resolver.mx("example.")).ttl == 60
    assert (await resolver.a("www.example.")).ttl == 7
    with pytest.raises(NotFound) as e:
        await resolver.a("missing.example.")
    assert e.value.ttl == 5  # the SOA's MINIMUM (RFC 2308 §5)


async def test_udp_answers_are_read_without_a_dnspython_message(
    fake: Callable[[Handler], FakeDNS], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Building a dnspython message was most of a lookup's CPU: UDP answers
    are read by postel.dns.wire (TCP ones still by dnspython)."""
    srv = fake(zone_handler(ZONE))
    r = DNSResolver(["127.0.0.1"], port=srv.port, timeout=3)
    parsed: list[bytes] = []
    real = dns.message.from_wire

    def watching(wire: bytes, *args: object, **kwargs: object) -> dns.message.Message:
        if threading.current_thread() is threading.main_thread():  # not the fake server
            parsed.append(wire)
        return real(wire, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(dns.message, "from_wire", watching)
    mx = await r.mx("example.")
    assert [rd.to_text() for rd in mx.records] == ["10 mx.example."] and mx.authentic
    with pytest.raises(NotFound):
        await r.a("nothing.example.")
    assert parsed == []
