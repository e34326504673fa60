"""Address and path parsing (RFC 5321 §4.1.2, RFC 6531), with hypothesis."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postel.smtp.address import (
    MAX_LOCALPART,
    Address,
    format_path,
    parse_address,
    parse_path,
    quote_localpart,
)
from postel.smtp.errors import AddressError

ATEXT = string.ascii_letters + string.digits + "!#$%&'*+-/=?^_`{|}~"
atoms = st.text(ATEXT, min_size=1, max_size=10)
dot_strings = (
    st.lists(atoms, min_size=1, max_size=4).map(".".join).filter(lambda s: len(s) <= MAX_LOCALPART)
)
labels = st.from_regex(r"\A[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?\Z")
domains = st.lists(labels, min_size=1, max_size=4).map(".".join)
# Quoted localparts: any printable ASCII, including space, quote and backslash.
quoted_content = st.text(
    st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=30
)


@given(dot_strings, domains)
def test_dot_string_roundtrip(local: str, domain: str) -> None:
    addr = parse_path(f"<{local}@{domain}>")
    assert addr == Address(local, domain)
    assert parse_path(format_path(addr)) == addr


@given(quoted_content, domains)
def test_quoted_roundtrip(local: str, domain: str) -> None:
    text = quote_localpart(local) + "@" + domain
    addr = parse_address(text)
    assert addr.localpart == local
    assert parse_address(str(addr)) == addr


@given(st.text(max_size=80))
def test_parse_path_never_crashes(text: str) -> None:
    try:
        result = parse_path(text, smtputf8=True)
    except AddressError as exc:
        assert 0 <= exc.offset <= len(text) + 1
    else:
        assert result is None or parse_path(format_path(result), smtputf8=True) == result


def test_null_path_and_source_route() -> None:
    assert parse_path("<>") is None
    with pytest.raises(AddressError):
        parse_path("<>", allow_null=False)
    assert parse_path("<@a.example,@b.example:u@c.example>") == Address("u", "c.example")


def test_domain_case_and_idna() -> None:
    assert parse_path("<User@EXAMPLE.Org>") == Address("User", "example.org")
    assert parse_path("<u@bücher.de>", smtputf8=True) == Address("u", "xn--bcher-kva.de")
    assert parse_path("<ü@xn--bcher-kva.de>", smtputf8=True) == Address("ü", "xn--bcher-kva.de")
    assert Address("u", "xn--bcher-kva.de").unicode == "u@bücher.de"


@pytest.mark.parametrize("text", ["<ü@example.org>", "<u@bücher.de>", '<"ü"@example.org>'])
def test_utf8_needs_smtputf8(text: str) -> None:
    with pytest.raises(AddressError) as info:
        parse_path(text)
    assert info.value.needs_smtputf8


@pytest.mark.parametrize(
    "text",
    [
        "u@example.org",  # no brackets
        "<u@example.org",
        "<u.@example.org>",
        "<.u@example.org>",
        "<u..v@example.org>",
        "<u v@example.org>",
        "<@example.org>",
        "<u@>",
        "<u@-bad.example>",
        "<u@exa_mple.org>",
        "<u@example.org.>",
        '<"unterminated@example.org>',
        "<u@[300.1.1.1]>",
        "<u@xn--zz.example>",
        "<" + "a" * 65 + "@example.org>",
        "<u@" + "a" * 250 + ".org>",
    ],
)
def test_invalid(text: str) -> None:
    with pytest.raises(AddressError):
        parse_path(text, smtputf8=True)


def test_address_literals() -> None:
    assert parse_path("<u@[192.0.2.1]>") == Address("u", "[192.0.2.1]")
    assert parse_path("<u@[IPv6:2001:DB8::1]>") == Address("u", "[IPv6:2001:db8::1]")


def test_quoting() -> None:
    assert quote_localpart("a b") == '"a b"'
    assert quote_localpart('a"b\\') == '"a\\"b\\\\"'
    assert quote_localpart("a.b") == "a.b"
    assert quote_localpart("a..b") == '"a..b"'
    assert str(parse_address('"a.b"@example.org')) == "a.b@example.org"
