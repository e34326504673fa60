"""postel.dns.response.interpret on crafted responses: each made as a
dnspython message and read from its wire form by postel.dns.wire, as the
resolver reads every answer."""

from __future__ import annotations

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from postel.dns.errors import BogusError, CnameChainError, NotFound, TemporaryError
from postel.dns.resolver import make_query
from postel.dns.response import extended_error, interpret
from postel.dns.wire import WireResponse, parse

N = dns.name.from_text


def response(
    qname: str,
    rdtype: str,
    answer: list[tuple[str, str, str]] = (),  # type: ignore[assignment]
    *,
    ad: bool = False,
    rcode: int = dns.rcode.NOERROR,
    soa: str | None = None,
    ede: list[tuple[int, str]] | None = None,
) -> dns.message.Message:
    q = make_query(N(qname), dns.rdatatype.from_text(rdtype))
    r = dns.message.make_response(q)
    r.set_rcode(rcode)
    if ad:
        r.flags |= dns.flags.AD
    for owner, t, data in answer:
        r.answer.append(dns.rrset.from_text(owner, 300, "IN", t, data))
    if soa:
        r.authority.append(dns.rrset.from_text(soa, 300, "IN", "SOA", "ns. host. 1 60 60 600 5"))
    if ede:
        r.use_edns(0, dns.flags.DO, 1232, options=[dns.edns.EDEOption(c, t) for c, t in ede])
    return r


def as_given(r: dns.message.Message) -> WireResponse:
    """*r*'s wire form read by postel.dns.wire."""
    return parse(r.to_wire())


def run(r: dns.message.Message, qname: str, rdtype: str):  # type: ignore[no-untyped-def]
    return interpret(as_given(r), N(qname), dns.rdatatype.from_text(rdtype), server="192.0.2.1")


def test_query_has_do_bit_and_edns() -> None:
    q = make_query(N("example.com."), dns.rdatatype.MX)
    assert q.edns == 0
    assert q.ednsflags & dns.flags.DO
    assert q.flags & dns.flags.RD
    assert q.payload == 1232


def test_plain_answer_authentic() -> None:
    r = response("example.com.", "MX", [("example.com.", "MX", "10 mx.example.com.")], ad=True)
    step = run(r, "example.com.", "MX")
    assert step.authentic is True
    assert step.chain == []
    assert step.name == N("example.com.")
    assert [rd.to_text() for rd in step.records or []] == ["10 mx.example.com."]


def test_plain_answer_not_authentic_without_ad() -> None:
    r = response("example.com.", "A", [("example.com.", "A", "192.0.2.7")])
    assert run(r, "example.com.", "A").authentic is False


def test_rrsig_records_are_not_returned() -> None:
    r = response("example.com.", "A", [("example.com.", "A", "192.0.2.7")], ad=True)
    r.answer.append(
        dns.rrset.from_text(
            "example.com.",
            300,
            "IN",
            "RRSIG",
            "A 13 2 300 20300101000000 20200101000000 1234 example.com. AAAA",
        )
    )
    step = run(r, "example.com.", "A")
    assert [rd.to_text() for rd in step.records or []] == ["192.0.2.7"]


def test_cname_chain_followed_in_answer() -> None:
    r = response(
        "www.example.com.",
        "A",
        [
            ("www.example.com.", "CNAME", "Web.Example.NET."),
            ("web.example.net.", "CNAME", "host.example.org."),
            ("host.example.org.", "A", "192.0.2.9"),
        ],
        ad=True,
    )
    step = run(r, "www.example.com.", "A")
    assert step.chain == [N("web.example.net."), N("host.example.org.")]
    assert step.name == N("host.example.org.")
    assert [rd.to_text() for rd in step.records or []] == ["192.0.2.9"]


def test_cname_query_is_not_followed() -> None:
    r = response("www.example.com.", "CNAME", [("www.example.com.", "CNAME", "example.com.")])
    step = run(r, "www.example.com.", "CNAME")
    assert step.chain == []
    assert [rd.to_text() for rd in step.records or []] == ["example.com."]


def test_incomplete_chain_asks_again() -> None:
    r = response("www.example.com.", "A", [("www.example.com.", "CNAME", "other.example.")])
    step = run(r, "www.example.com.", "A")
    assert step.records is None
    assert step.name == N("other.example.")
    assert step.chain == [N("other.example.")]


def test_chain_ending_in_nodata() -> None:
    r = response(
        "www.example.com.",
        "TLSA",
        [("www.example.com.", "CNAME", "other.example.")],
        soa="example.",
    )
    with pytest.raises(NotFound) as ei:
        run(r, "www.example.com.", "TLSA")
    assert ei.value.nxdomain is False
    assert ei.value.name == "other.example."
    assert "via CNAME to other.example." in str(ei.value)


def test_chain_ending_in_nxdomain() -> None:
    r = response(
        "www.example.com.",
        "A",
        [("www.example.com.", "CNAME", "gone.example.")],
        rcode=dns.rcode.NXDOMAIN,
        soa="example.",
        ad=True,
    )
    with pytest.raises(NotFound) as ei:
        run(r, "www.example.com.", "A")
    assert ei.value.nxdomain is True
    assert ei.value.authentic is True
    assert ei.value.name == "gone.example."


def test_nxdomain() -> None:
    r = response("nope.example.", "MX", rcode=dns.rcode.NXDOMAIN, soa="example.")
    with pytest.raises(NotFound) as ei:
        run(r, "nope.example.", "MX")
    assert ei.value.nxdomain is True
    assert ei.value.authentic is False
    assert ei.value.qname == "nope.example."
    assert ei.value.rdtype == "MX"


def test_nodata_without_soa() -> None:
    with pytest.raises(NotFound) as ei:
        run(response("example.", "TLSA"), "example.", "TLSA")
    assert ei.value.nxdomain is False


def test_nodata_with_records_of_other_type() -> None:
    r = response("example.", "TLSA", [("example.", "A", "192.0.2.1")], soa="example.")
    with pytest.raises(NotFound):
        run(r, "example.", "TLSA")


def test_cname_loop_rejected() -> None:
    r = response(
        "a.example.",
        "A",
        [("a.example.", "CNAME", "b.example."), ("b.example.", "CNAME", "A.example.")],
    )
    with pytest.raises(CnameChainError, match="loop"):
        run(r, "a.example.", "A")


def test_cname_self_loop_rejected() -> None:
    r = response("a.example.", "A", [("a.example.", "CNAME", "a.example.")])
    with pytest.raises(CnameChainError):
        run(r, "a.example.", "A")


def chain_of(n: int) -> list[tuple[str, str, str]]:
    recs = [(f"c{i}.example.", "CNAME", f"c{i + 1}.example.") for i in range(n)]
    recs.append((f"c{n}.example.", "A", "192.0.2.1"))
    return recs


def test_sixteen_cnames_allowed() -> None:
    step = run(response("c0.example.", "A", chain_of(16)), "c0.example.", "A")
    assert len(step.chain) == 16
    assert step.records is not None


def test_seventeen_cnames_rejected() -> None:
    with pytest.raises(CnameChainError, match="more than 16"):
        run(response("c0.example.", "A", chain_of(17)), "c0.example.", "A")


def test_chain_limit_counts_earlier_steps() -> None:
    r = response("c10.example.", "A", chain_of(17)[10:])
    earlier = [N(f"c{i}.example.") for i in range(1, 11)]
    with pytest.raises(CnameChainError):
        interpret(
            as_given(r), N("c0.example."), dns.rdatatype.A, start=N("c10.example."), chain=earlier
        )


@pytest.mark.parametrize("code", [6, 7, 9, 10, 12])
def test_servfail_with_dnssec_ede_is_bogus(code: int) -> None:
    r = response("bogus.example.", "A", rcode=dns.rcode.SERVFAIL, ede=[(code, "validation")])
    with pytest.raises(BogusError) as ei:
        run(r, "bogus.example.", "A")
    assert ei.value.ede_code == code
    assert ei.value.ede_text == "validation"
    assert f"EDE {code}" in str(ei.value)
    assert "192.0.2.1" in str(ei.value)


def test_dnssec_ede_preferred_over_other_ede() -> None:
    r = response("x.example.", "A", rcode=dns.rcode.SERVFAIL, ede=[(22, "unreachable"), (7, "")])
    assert extended_error(as_given(r)) == (7, "")
    with pytest.raises(BogusError) as ei:
        run(r, "x.example.", "A")
    assert ei.value.ede_code == 7


def test_servfail_without_ede_is_temporary() -> None:
    r = response("x.example.", "A", rcode=dns.rcode.SERVFAIL)
    with pytest.raises(TemporaryError) as ei:
        run(r, "x.example.", "A")
    assert ei.value.ede_code is None
    assert "SERVFAIL" in str(ei.value)


def test_servfail_with_network_ede_is_temporary() -> None:
    r = response("x.example.", "A", rcode=dns.rcode.SERVFAIL, ede=[(22, "no reachable")])
    with pytest.raises(TemporaryError) as ei:
        run(r, "x.example.", "A")
    assert not isinstance(ei.value, BogusError)
    assert ei.value.ede_code == 22
    assert "No Reachable Authority" in str(ei.value)


@pytest.mark.parametrize("rcode", [dns.rcode.REFUSED, dns.rcode.NOTIMP, dns.rcode.FORMERR])
def test_other_rcodes_are_temporary(rcode: int) -> None:
    r = response("x.example.", "A", rcode=rcode)
    with pytest.raises(TemporaryError, match=dns.rcode.to_text(rcode)):
        run(r, "x.example.", "A")


def test_no_ede_without_edns() -> None:
    assert extended_error(as_given(response("x.", "A"))) == (None, "")


def test_ttl_is_the_smallest_in_the_answer() -> None:
    r = response(
        "www.example.com.",
        "A",
        [
            ("www.example.com.", "CNAME", "host.example.com."),
            ("host.example.com.", "A", "192.0.2.1"),
        ],
    )
    r.answer[0].ttl = 120
    r.answer[1].ttl = 40
    assert run(r, "www.example.com.", "A").ttl == 40


def test_negative_ttl_from_the_soa() -> None:
    # RFC 2308 §5: the smaller of the SOA record's TTL (300) and its MINIMUM (5).
    for rcode in (dns.rcode.NXDOMAIN, dns.rcode.NOERROR):
        r = response("nx.example.com.", "TXT", rcode=rcode, soa="example.com.")
        with pytest.raises(NotFound) as e:
            run(r, "nx.example.com.", "TXT")
        assert e.value.ttl == 5
    r = response("nx.example.com.", "TXT", rcode=dns.rcode.NXDOMAIN)  # no SOA: unknown
    with pytest.raises(NotFound) as e:
        run(r, "nx.example.com.", "TXT")
    assert e.value.ttl is None
