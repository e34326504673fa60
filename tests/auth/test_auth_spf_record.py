"""SPF record parsing (RFC 7208 §4.5, §5, §6, §7.1, §12)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postel.auth.errors import SPFSyntaxError
from postel.auth.spf.record import is_spf_record, parse_record, select_record


def test_parse_full_record() -> None:
    rec = parse_record(
        "v=spf1 +mx a:colo.example.com/28 -ip4:192.0.2.0/24 ~ip6:2001:db8::/32 "
        "?include:_spf.example.net exists:%{ir}.%{l1r+-}._spf.%{d} ptr "
        "a//64 mx:mail.example.org/24//48 redirect=_spf.example.com exp=explain.%{d} "
        "foo=bar -all"
    )
    names = [(m.qualifier, m.name) for m in rec.mechanisms]
    assert names == [
        ("+", "mx"),
        ("+", "a"),
        ("-", "ip4"),
        ("~", "ip6"),
        ("?", "include"),
        ("+", "exists"),
        ("+", "ptr"),
        ("+", "a"),
        ("+", "mx"),
        ("-", "all"),
    ]
    assert rec.mechanisms[1].domain_spec == "colo.example.com"
    assert rec.mechanisms[1].cidr4 == 28
    assert rec.mechanisms[2].network == ipaddress.ip_network("192.0.2.0/24")
    assert rec.mechanisms[3].network == ipaddress.ip_network("2001:db8::/32")
    assert rec.mechanisms[7].domain_spec is None and rec.mechanisms[7].cidr6 == 64
    assert rec.mechanisms[8].cidr4 == 24 and rec.mechanisms[8].cidr6 == 48
    assert rec.redirect == "_spf.example.com"
    assert rec.exp == "explain.%{d}"
    assert [(m.name, m.value) for m in rec.other_modifiers] == [("foo", "bar")]


def test_version_and_selection() -> None:
    assert is_spf_record("v=spf1")
    assert is_spf_record("V=SPF1 -all")
    assert not is_spf_record("v=spf10 -all")
    assert not is_spf_record("v=spf1-all")
    assert select_record(["google-site-verification=x", "v=spf1 -all"]) == "v=spf1 -all"
    assert select_record(["other"]) is None
    with pytest.raises(SPFSyntaxError, match="2 TXT records"):
        select_record(["v=spf1 -all", "v=spf1 +all"])


def test_case_insensitive_mechanisms() -> None:
    rec = parse_record("v=spf1 A MX -ALL")
    assert [m.name for m in rec.mechanisms] == ["a", "mx", "all"]


@pytest.mark.parametrize(
    ("record", "fragment"),
    [
        ("v=spf1 foo", "unknown mechanism"),
        ("v=spf1 ip4:300.1.1.1", "invalid ip4 address"),
        ("v=spf1 ip4:192.0.2.0/33", "cidr"),
        ("v=spf1 ip4:192.0.2.0/024", "cidr"),
        ("v=spf1 ip6:2001:db8::/129", "cidr"),
        ("v=spf1 ip6:192.0.2.1", "invalid ip6 address"),
        ("v=spf1 a/33", "cidr"),
        ("v=spf1 a//129", "cidr"),
        ("v=spf1 include", "needs ':'"),
        ("v=spf1 exists:", "empty domain-spec"),
        ("v=spf1 all:foo", "takes no argument"),
        ("v=spf1 redirect=a.com redirect=b.com", "more than one redirect"),
        ("v=spf1 exp=a.com exp=b.com", "more than one exp"),
        ("v=spf1 include:%{z}.example.com", "invalid macro letter"),
        ("v=spf1 include:%{d0}.example.com", "zero"),
        ("v=spf1 include:%{d", "unterminated"),
        ("v=spf1 include:50%.example.com", "invalid macro escape"),
        ("v=spf1 a:foo.1", "top label"),
        ("v=spf1 a:localhost", "dotted name"),
        ("v=spf1 -all x=\x7f", "invalid character"),
        ("spf1 -all", "does not start"),
    ],
)
def test_syntax_errors(record: str, fragment: str) -> None:
    with pytest.raises(SPFSyntaxError, match=fragment) as info:
        parse_record(record)
    assert info.value.offset is not None


def test_error_offset_points_at_term() -> None:
    with pytest.raises(SPFSyntaxError) as info:
        parse_record("v=spf1 a mx bogus:x -all")
    assert info.value.offset == 12
    assert "offset 12" in str(info.value)


def test_domain_spec_ending_in_macro_is_accepted() -> None:
    rec = parse_record("v=spf1 exists:%{i}.%{d} a:%{l/}.example.com")
    assert rec.mechanisms[0].domain_spec == "%{i}.%{d}"
    assert rec.mechanisms[1].domain_spec == "%{l/}.example.com"


def test_text_roundtrip() -> None:
    rec = parse_record("v=spf1 ~mx/24 ip4:192.0.2.1 redirect=x.example.com")
    assert rec.text() == "v=spf1 ~mx/24 ip4:192.0.2.1/32 redirect=x.example.com"
    assert parse_record(rec.text()) == rec


_TERMS = st.sampled_from(
    [
        "a",
        "mx",
        "ptr",
        "all",
        "-all",
        "~all",
        "?all",
        "+all",
        "ip4:",
        "ip6:",
        "include:",
        "exists:",
        "redirect=",
        "exp=",
        "a:",
        "mx:",
        "/",
        "//",
        "24",
        "128",
        "0",
        "33",
        "192.0.2.1",
        "2001:db8::1",
        "::",
        "example.com",
        "%{d}",
        "%{ir}",
        "%{l1r-}",
        "%%",
        "%_",
        "%-",
        "%",
        "{",
        "}",
        "=",
        ":",
        ".",
        "-",
        " ",
        "  ",
        "x",
        "é",
        "\x00",
        "%{",
        "%{z}",
    ]
)

_RECORDS = st.one_of(
    st.text(max_size=80),
    st.lists(_TERMS, max_size=15).map(lambda ts: "v=spf1 " + "".join(ts)),
    st.lists(_TERMS, max_size=10).map(lambda ts: "v=spf1 " + " ".join(ts)),
)


@settings(max_examples=600, deadline=None)
@given(_RECORDS)
def test_parser_raises_only_package_errors(text: str) -> None:
    try:
        rec = parse_record(text)
    except SPFSyntaxError as exc:
        assert str(exc)
        return
    # Whatever parses re-parses to the same record.
    assert parse_record(rec.text()) == rec
