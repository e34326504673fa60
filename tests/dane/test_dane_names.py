"""Allowed names (RFC 7672 §3.2.2) and certificate name matching (§3.2.3)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postel.dane import (
    InvalidNameError,
    allowed_names,
    name_matches,
    normalize_name,
    presented_names,
    tlsa_base_domain,
    tlsa_qname,
)


@pytest.mark.parametrize(
    ("reference", "presented", "expected"),
    [
        ("mx.example.org", "mx.example.org", True),
        ("MX.Example.ORG.", "mx.example.org", True),
        ("mx.example.org", "MX.EXAMPLE.ORG.", True),
        ("mx.example.org", "*.example.org", True),
        ("a.mx.example.org", "*.example.org", False),  # one label only
        ("example.org", "*.example.org", False),
        ("mx.org", "*.org", False),  # not below a single label
        ("mx.example.org", "m*.example.org", False),  # partial wildcards not accepted
        ("mx.example.org", "*x.example.org", False),
        ("mx.example.org", "mx.*.org", False),
        ("mx.example.org", "*.*.org", False),
        ("mx.example.org", "*", False),
        ("mx.example.org", "", False),
        ("", "*.example.org", False),
        ("mx.example.org", "mx.example.net", False),
    ],
)
def test_name_matches(reference: str, presented: str, expected: bool) -> None:
    assert name_matches(reference, presented) is expected


def test_presented_names_san_over_cn(make_cert) -> None:
    cert = make_cert("cn.example.org", names=["A.example.org.", "b.example.org"]).cert
    assert presented_names(cert) == ["a.example.org", "b.example.org"]
    assert presented_names(make_cert("CN.example.org").cert) == ["cn.example.org"]


def test_normalize_name() -> None:
    assert normalize_name("MX.Example.org.") == "mx.example.org"
    assert normalize_name("mx.bücher.example") == "mx.xn--bcher-kva.example"
    for bad in ("", ".", "a..b", "x" * 64 + ".example"):
        with pytest.raises(InvalidNameError):
            normalize_name(bad)


def test_tlsa_base_domain_and_qname() -> None:
    assert tlsa_base_domain("mx.example.org") == "mx.example.org"
    assert tlsa_base_domain("mx.example.org", "mx.hoster.example", False) == "mx.example.org"
    assert tlsa_base_domain("mx.example.org", "mx.hoster.example", True) == "mx.hoster.example"
    assert tlsa_qname("MX.example.org.") == "_25._tcp.mx.example.org."
    assert tlsa_qname("mx.example.org", 465) == "_465._tcp.mx.example.org."
    with pytest.raises(ValueError, match="port"):
        tlsa_qname("mx.example.org", 0)


def test_allowed_names() -> None:
    # No CNAME: just the host.
    assert allowed_names("mx.example.org.") == ("mx.example.org",)
    # Authentic CNAME expansion: the TLSA base domain first (SNI), then the original.
    assert allowed_names("mx.example.org", "mx.hoster.example", True) == (
        "mx.hoster.example",
        "mx.example.org",
    )
    # Not authentic: the expansion is not trusted as a name.
    assert allowed_names("mx.example.org", "mx.hoster.example", False) == ("mx.example.org",)
    # Extra names are appended, duplicates dropped.
    assert allowed_names("MX.example.org", None, False, ["example.org", "mx.example.org."]) == (
        "mx.example.org",
        "example.org",
    )


label = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=10).filter(
    lambda s: not s.startswith("-") and not s.endswith("-")
)
hostname = st.lists(label, min_size=2, max_size=5).map(".".join)


@given(hostname)
def test_exact_names_match_themselves_and_wildcards_one_level(host: str) -> None:
    assert name_matches(host, host)
    assert name_matches(host.upper() + ".", host)
    _first, rest = host.split(".", 1)
    assert name_matches(host, "*." + rest) is ("." in rest)
    assert not name_matches(rest, "*." + rest)
