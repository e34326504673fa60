"""MAIL/RCPT argument and ESMTP parameter parsing, with hypothesis."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postel.smtp.address import Address
from postel.smtp.errors import ParameterError
from postel.smtp.params import decode_xtext, encode_xtext, parse_mail, parse_rcpt

ALL = frozenset({"SIZE", "8BITMIME", "SMTPUTF8", "REQUIRETLS", "AUTH"})


def test_mail_all_params() -> None:
    cmd = parse_mail(
        "FROM:<ü@bücher.de> SIZE=1234 BODY=8bitmime SMTPUTF8 REQUIRETLS AUTH=a+2Bb@x.org", ALL
    )
    assert cmd.sender == Address("ü", "xn--bcher-kva.de")
    p = cmd.params
    assert (p.size, p.body, p.smtputf8, p.requiretls, p.auth) == (
        1234,
        "8BITMIME",
        True,
        True,
        "a+b@x.org",
    )


def test_mail_null_sender_and_space() -> None:
    assert parse_mail("FROM:<>", ALL).sender is None
    assert parse_mail("from: <a@b.example>", ALL).sender == Address("a", "b.example")
    assert parse_mail("FROM:<> AUTH=<>", ALL).params.auth == ""


@pytest.mark.parametrize(
    ("arg", "code", "enhanced"),
    [
        ("FROM:<a@b.example> SIZE=x", 501, "5.5.4"),
        ("FROM:<a@b.example> SIZE", 501, "5.5.4"),
        ("FROM:<a@b.example> BODY=BINARYMIME", 555, "5.5.4"),
        ("FROM:<a@b.example> FOO=1", 555, "5.5.4"),
        ("FROM:<a@b.example> SMTPUTF8=yes", 501, "5.5.4"),
        ("FROM:<a@b.example> SIZE=1 SIZE=2", 501, "5.5.4"),
        ("FROM:<ü@b.example>", 553, "5.6.7"),
        ("FROM:a@b.example", 501, "5.5.2"),
        ("TO:<a@b.example>", 501, "5.5.2"),
        ("FROM:<a@b.example", 501, "5.5.2"),
        ("FROM:<a..b@b.example>", 501, "5.1.7"),
    ],
)
def test_mail_errors(arg: str, code: int, enhanced: str) -> None:
    with pytest.raises(ParameterError) as info:
        parse_mail(arg, ALL)
    assert (info.value.code, info.value.enhanced) == (code, enhanced)


def test_unannounced_extension_refused() -> None:
    with pytest.raises(ParameterError) as info:
        parse_mail("FROM:<a@b.example> REQUIRETLS", frozenset({"SIZE"}))
    assert info.value.code == 555


def test_rcpt() -> None:
    assert parse_rcpt("TO:<a@b.example>", smtputf8=False).recipient == Address("a", "b.example")
    assert parse_rcpt("TO:<Postmaster>", smtputf8=False).postmaster
    assert parse_rcpt('TO:<"x>y"@b.example>', smtputf8=False).recipient.localpart == "x>y"
    for bad in ("TO:<>", "TO:<a@b.example> NOTIFY=NEVER", "TO:<a@b>c>"):
        with pytest.raises(ParameterError):
            parse_rcpt(bad, smtputf8=False)
    with pytest.raises(ParameterError) as info:
        parse_rcpt("TO:<ü@b.example>", smtputf8=False)
    assert info.value.enhanced == "5.6.7"
    assert parse_rcpt("TO:<ü@b.example>", smtputf8=True).recipient.localpart == "ü"


@given(st.text(max_size=40))
def test_xtext_roundtrip(value: str) -> None:
    encoded = encode_xtext(value)
    assert all(33 <= ord(c) <= 126 and c != "=" for c in encoded)
    assert decode_xtext(encoded) == value.encode("utf-8", "surrogatepass").decode(
        "utf-8", "replace"
    )


@given(st.text(max_size=100))
def test_parse_mail_never_crashes(arg: str) -> None:
    try:
        parse_mail("FROM:" + arg, ALL)
    except ParameterError as exc:
        assert exc.code in (501, 553, 555)


@given(st.integers(min_value=0, max_value=10**15))
def test_size(n: int) -> None:
    assert parse_mail(f"FROM:<> SIZE={n}", ALL).params.size == n
