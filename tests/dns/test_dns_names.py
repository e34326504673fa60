"""Names, types, resolv.conf parsing, EDE descriptions."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postel.dns.answer import Answer
from postel.dns.ede import describe, is_dnssec_failure
from postel.dns.names import name_text, rdtype_text
from postel.dns.resolvconf import parse_resolv_conf, system_nameservers


@pytest.mark.parametrize(
    ("given_name", "expected"),
    [
        ("Example.COM", "example.com."),
        ("example.com.", "example.com."),
        (".", "."),
        ("bücher.example", "xn--bcher-kva.example."),
        ("_25._tcp.MX.example", "_25._tcp.mx.example."),
    ],
)
def test_name_text(given_name: str, expected: str) -> None:
    assert name_text(given_name) == expected


@pytest.mark.parametrize("bad", ["", "a..b", "x" * 64 + ".example"])
def test_bad_names(bad: str) -> None:
    with pytest.raises(ValueError):
        name_text(bad)


labels = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_",
    min_size=1,
    max_size=20,
)


@given(st.lists(labels, min_size=1, max_size=5), st.booleans())
def test_name_text_normalises(parts: list[str], dot: bool) -> None:
    text = ".".join(parts) + ("." if dot else "")
    out = name_text(text)
    assert out.endswith(".")
    assert out == out.lower()
    assert name_text(out) == out
    assert name_text(text.upper()) == out


def test_rdtype_text() -> None:
    assert rdtype_text("tlsa") == "TLSA"
    with pytest.raises(ValueError):
        rdtype_text("NOPE")


def test_parse_resolv_conf() -> None:
    text = """# comment
search example.com
nameserver 127.0.0.53
nameserver   ::1  # trailing comment
nameserver fe80::1%eth0
nameserver not-an-ip
options edns0 trust-ad
"""
    assert parse_resolv_conf(text) == ["127.0.0.53", "::1", "fe80::1%eth0"]


@given(st.text())
def test_parse_resolv_conf_only_returns_addresses(text: str) -> None:
    for server in parse_resolv_conf(text):
        ipaddress.ip_address(server.split("%", 1)[0])


def test_system_nameservers_fallback(tmp_path: Path) -> None:
    assert system_nameservers(tmp_path / "missing") == ["127.0.0.1"]
    (tmp_path / "r").write_text("search x\n")
    assert system_nameservers(tmp_path / "r") == ["127.0.0.1"]
    (tmp_path / "r").write_text("nameserver 192.0.2.53\n")
    assert system_nameservers(tmp_path / "r") == ["192.0.2.53"]


def test_ede() -> None:
    assert describe(9, "x") == "EDE 9 (DNSKEY Missing): x"
    assert describe(None) == "no extended DNS error"
    assert describe(999) == "EDE 999 (unassigned)"
    assert is_dnssec_failure(6) and is_dnssec_failure(7) and is_dnssec_failure(10)
    assert not is_dnssec_failure(22) and not is_dnssec_failure(None) and not is_dnssec_failure(3)


def test_answer_texts_decodes_leniently() -> None:
    import dns.rdata

    rd = dns.rdata.from_text("IN", "TXT", '"a" "\\255b"')
    mx = dns.rdata.from_text("IN", "MX", "10 mx.")
    a = Answer("x.", "x.", "TXT", [rd, mx], True)
    assert a.texts() == ["a\ufffdb"]
    assert a.to_texts() == ['"a" "\\255b"', "10 mx."]
