"""MockResolver: the stand-in other packages use in their unit tests."""

from __future__ import annotations

import pytest

from postel.dns import BogusError, NotFound, TemporaryError
from postel.dns.errors import CnameChainError
from postel.dns.mock import MockResolver


def make() -> MockResolver:
    return MockResolver(
        {
            ("Example.COM", "mx"): ["10 mx.example.com.", "20 mx2.example.com."],
            ("_mta-sts.example.com.", "TXT"): ['"v=STSv1; " "id=1"'],
            ("mx.example.com", "A"): ["192.0.2.1"],
            ("www.example.com", "CNAME"): ["alias.example.net."],
            ("alias.example.net", "CNAME"): ["mx.example.com."],
            ("_25._tcp.mx.example.com", "TLSA"): ["3 1 1 " + "ab" * 32],
            ("empty.example.com", "TXT"): [],
            ("a.sub.example.org", "A"): ["192.0.2.2"],
            ("broken.example", "TLSA"): TemporaryError("SERVFAIL from test"),
            ("bogus.example", "*"): BogusError("bogus.example.", "A", ede_code=6),
        },
        authentic={"example.com", "mx.example.com."},
    )


async def test_records_parsed_and_names_normalised() -> None:
    m = make()
    answer = await m.mx("EXAMPLE.com")
    assert answer.qname == "example.com."
    assert answer.name == "example.com."
    assert answer.rdtype == "MX"
    assert [rd.to_text() for rd in answer.records] == [
        "10 mx.example.com.",
        "20 mx2.example.com.",
    ]
    assert answer.authentic is True
    assert answer.cname_chain == []
    assert m.queries == [("example.com.", "MX")]


async def test_txt_texts() -> None:
    assert (await make().txt("_mta-sts.example.com")).texts() == ["v=STSv1; id=1"]


async def test_tlsa_record() -> None:
    answer = await make().tlsa("_25._tcp.mx.example.com.")
    rd = answer.records[0]
    assert (rd.usage, rd.selector, rd.mtype) == (3, 1, 1)  # type: ignore[attr-defined]


async def test_cname_followed_and_authenticity_of_chain() -> None:
    answer = await make().a("www.example.com")
    assert answer.name == "mx.example.com."
    assert answer.cname_chain == ["alias.example.net.", "mx.example.com."]
    # www.example.com and alias.example.net are not in the authentic set.
    assert answer.authentic is False


async def test_cname_itself() -> None:
    answer = await make().cname("www.example.com")
    assert [rd.to_text() for rd in answer.records] == ["alias.example.net."]


async def test_nxdomain_nodata() -> None:
    m = make()
    with pytest.raises(NotFound) as ei:
        await m.a("nothing.example.com")
    assert ei.value.nxdomain is True
    with pytest.raises(NotFound) as ei:
        await m.aaaa("mx.example.com")
    assert ei.value.nxdomain is False
    assert ei.value.authentic is True
    with pytest.raises(NotFound) as ei:
        await m.txt("empty.example.com")
    assert ei.value.nxdomain is False
    # Empty non-terminal: a name below exists.
    with pytest.raises(NotFound) as ei:
        await m.a("sub.example.org")
    assert ei.value.nxdomain is False


async def test_chain_to_missing_name() -> None:
    m = MockResolver({("a.example", "CNAME"): ["gone.example."]})
    with pytest.raises(NotFound) as ei:
        await m.mx("a.example")
    assert ei.value.nxdomain is True
    assert ei.value.name == "gone.example."


async def test_errors_per_name_and_type() -> None:
    m = make()
    with pytest.raises(TemporaryError, match="SERVFAIL from test"):
        await m.tlsa("broken.example")
    with pytest.raises(NotFound):
        await m.a("broken.example")
    for t in ("A", "MX", "TLSA"):
        with pytest.raises(BogusError) as ei:
            await m.lookup("bogus.example", t)
        assert ei.value.ede_code == 6


async def test_cname_loop_and_limit() -> None:
    m = MockResolver({("a.x", "CNAME"): ["b.x."], ("b.x", "CNAME"): ["a.x."]})
    with pytest.raises(CnameChainError, match="loop"):
        await m.a("a.x")
    long = {(f"c{i}.x", "CNAME"): [f"c{i + 1}.x."] for i in range(17)}
    long["c17.x", "A"] = ["192.0.2.1"]
    with pytest.raises(CnameChainError, match="16"):
        await MockResolver(long).a("c0.x")  # type: ignore[arg-type]
    del long["c0.x", "CNAME"]
    assert len((await MockResolver(long).a("c1.x")).cname_chain) == 16  # type: ignore[arg-type]


async def test_authentic_flag_forms() -> None:
    m = MockResolver({("a.example", "A"): ["192.0.2.1"]}, authentic=False)
    assert (await m.a("a.example")).authentic is False
    m.set_authentic("A.Example.", True)
    assert (await m.a("a.example")).authentic is True


async def test_set_and_remove() -> None:
    m = MockResolver()
    m.set("x.example", "TXT", ['"hello"'])
    assert (await m.txt("x.example.")).texts() == ["hello"]
    m.remove("x.example.", "txt")
    with pytest.raises(NotFound):
        await m.txt("x.example")


def test_bad_record_text_names_the_entry() -> None:
    with pytest.raises(ValueError, match=r"bad\.example\. MX record 0"):
        MockResolver({("bad.example", "MX"): ["not a number mx."]})


def test_unknown_type_rejected() -> None:
    with pytest.raises(ValueError, match="unknown DNS record type"):
        MockResolver({("x.example", "NOPE"): ["1"]})
