"""postel.dns.wire: reading responses without a dnspython message."""

from __future__ import annotations

import struct

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from postel.dns.errors import TemporaryError
from postel.dns.resolver import make_query
from postel.dns.response import interpret
from postel.dns.wire import DNSWireFormatError, name_key, parse

N = dns.name.from_text


def answer(*rrsets: dns.rrset.RRset, edns: bool = True) -> bytes:
    q = make_query(N("www.example.com."), dns.rdatatype.A)
    r = dns.message.make_response(q)
    if not edns:
        r.use_edns(False)
    r.flags |= dns.flags.AD
    r.answer.extend(rrsets)
    return r.to_wire()


def test_records_of_the_name_in_any_case_and_once_each() -> None:
    wire = answer(
        dns.rrset.from_text("WWW.Example.COM.", 300, "IN", "A", "192.0.2.1", "192.0.2.2"),
        dns.rrset.from_text("www.example.com.", 60, "IN", "A", "192.0.2.1"),
        dns.rrset.from_text("other.example.com.", 30, "IN", "A", "192.0.2.9"),
    )
    r = parse(wire)
    found = r.records(name_key(N("www.EXAMPLE.com.")), dns.rdatatype.A)
    assert found is not None and sorted(rd.to_text() for rd in found) == ["192.0.2.1", "192.0.2.2"]
    assert r.records(name_key(N("www.example.com.")), dns.rdatatype.AAAA) is None
    assert r.authentic and r.answer_ttl() == 30 and r.rcode == 0


def test_compressed_names_in_records_are_followed() -> None:
    wire = answer(dns.rrset.from_text("www.example.com.", 300, "IN", "MX", "10 mx.example.com."))
    r = parse(wire)
    (mx,) = r.records(name_key(N("www.example.com.")), dns.rdatatype.MX) or []
    assert mx.to_text() == "10 mx.example.com."
    assert len(wire) < 80  # the names were compressed


def test_extended_rcode_from_the_opt_record() -> None:
    # RFC 6891 §6.1.3: BADVERS (16) is 1 in the OPT TTL's first octet, 0 in the header.
    q = make_query(N("x.example."), dns.rdatatype.A)
    r = dns.message.make_response(q)
    r.set_rcode(dns.rcode.BADVERS)
    parsed = parse(r.to_wire())
    assert parsed.rcode == dns.rcode.BADVERS == r.rcode()
    with pytest.raises(TemporaryError, match="BADVERS"):
        interpret(parsed, N("x.example."), dns.rdatatype.A)


def header(an: int = 0, ar: int = 0) -> bytes:
    return struct.pack("!HHHHHH", 1, 0x8180, 0, an, 0, ar)


@pytest.mark.parametrize(
    ("wire", "what"),
    [
        (b"\0\1\x81", "shorter than its 12-octet header"),
        (header(an=1) + b"\xc0\x0c" + b"\0\1\0\1\0\0\0\x3c\0\4", "bad compression pointer"),
        (header(an=1) + b"\xc0\x20", "bad compression pointer"),
        (header(an=1) + b"\x03www", "runs past the end"),
        (header(an=1) + b"\x80abc\0", "bad label type"),
        (header(an=1) + b"\0\0\1\0\1\0\0\0\x3c\0\4\xc0\0", "past the end"),
        (header(an=1) + b"\0\0\1\0\1\0\0\0\x3c\0\4\xc0\0\2\1\xff", "1 octets after"),
        (
            header(an=1)
            + b"\x3f"
            + b"a" * 63
            + b"\x3f"
            + b"b" * 63
            + b"\x3f"
            + b"c" * 63
            + b"\x3f"
            + b"d" * 63
            + b"\0",
            "longer than 255",
        ),
        (header(ar=2) + (b"\0\0\x29\4\xd0\0\0\0\0\0\0") * 2, "more than one OPT"),
        (header(ar=1) + b"\0\0\x29\4\xd0\0\0\0\0\0\3\0\x0f\0", "cut short"),
    ],
)
def test_malformed_responses_are_refused(wire: bytes, what: str) -> None:
    with pytest.raises(DNSWireFormatError, match=what):
        parse(wire)


def test_a_bad_record_is_refused_when_read() -> None:
    wire = header(an=1) + b"\0\0\1\0\1\0\0\0\x3c\0\3\xc0\0\2"  # an A record of 3 octets
    r = parse(wire)
    with pytest.raises(DNSWireFormatError, match="bad A record at octet 23"):
        r.records(b"\0", dns.rdatatype.A)


def test_same_view_as_dnspython_for_every_section() -> None:
    q = make_query(N("nx.example."), dns.rdatatype.TXT)
    r = dns.message.make_response(q)
    r.set_rcode(dns.rcode.NXDOMAIN)
    r.authority.append(dns.rrset.from_text("example.", 900, "IN", "SOA", "ns. h. 1 2 3 4 77"))
    parsed = parse(r.to_wire())
    assert parsed.soa() == (900, 77)
    assert parsed.rcode == dns.rcode.NXDOMAIN and not parsed.authentic
    assert parsed.answer == [] and parsed.options == []


@pytest.mark.parametrize("text", [".", "example.", "WWW.Example.COM.", "a\\.b.\\065x.example."])
def test_name_key_is_the_lower_case_wire_form(text: str) -> None:
    assert name_key(N(text)) == N(text).canonicalize().to_wire()
