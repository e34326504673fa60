"""The faster MAIL/RCPT parsers (fast paths, domain cache) give exactly what the
former implementation (tests/smtp/smtp_former.py) gave: values and errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import smtp_former as former
from hypothesis import given, settings
from hypothesis import strategies as st

from postel.smtp import address, params
from postel.smtp.errors import SMTPError

EXTENSIONS = frozenset({"SIZE", "8BITMIME", "SMTPUTF8", "REQUIRETLS", "PIPELINING"})
SESSION_KEYWORDS = frozenset(
    {"PIPELINING", "SIZE", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "STARTTLS", "REQUIRETLS"}
)

ATOMS = [
    "FROM:", "TO:", "from:", "To:", "<", ">", "@", ".", " ", "  ", '"', "\\", "[", "]", "IPv6:",
    "::1", "127.0.0.1", "a", "bc", "Sender", "x.y", "example.org", "EXAMPLE.org", "例え",
    "bücher", "xn--bcher-kva", "xn--zz", "SIZE=", "SIZE=5120", "BODY=8BITMIME", "BODY=7bit",
    "SMTPUTF8", "REQUIRETLS", "AUTH=<>", "AUTH=a+2Bb", "RET=HDRS", "=", "\x00", "\r", "\t", "é",
    "postmaster", "Postmaster", "xn--", "-", "1" * 70, "a" * 63, "!#$%&'*+-/=?^_`{|}~", ",", ":",
]  # fmt: skip
atoms = st.sampled_from(ATOMS)
joined = st.lists(atoms, max_size=25).map("".join)
paths = st.builds(
    lambda local, domain: f"<{local}@{domain}>",
    st.lists(atoms, min_size=1, max_size=6).map("".join),
    st.lists(atoms, min_size=1, max_size=6).map("".join),
)
texts = st.one_of(joined, paths, st.text(max_size=300))


def outcome(fn: Callable[[], Any]) -> tuple[str, Any]:
    """The value, or the exception with everything a caller can see of it."""
    try:
        return "ok", fn()
    except SMTPError as exc:
        return "error", (type(exc).__name__, str(exc), sorted(vars(exc).items()))
    except Exception as exc:  # e.g. UnicodeEncodeError for lone surrogates
        return "other", (type(exc).__name__, str(exc))


def same(new: Callable[[], Any], old: Callable[[], Any]) -> None:
    expected = outcome(old)
    assert outcome(new) == expected
    assert outcome(new) == expected  # again, from the caches


@settings(max_examples=400, deadline=None)
@given(texts, st.sampled_from([EXTENSIONS, SESSION_KEYWORDS, frozenset()]))
def test_parse_mail(arg: str, keywords: frozenset[str]) -> None:
    same(lambda: params.parse_mail(arg, keywords), lambda: former.parse_mail(arg, keywords))
    line = "FROM:" + arg
    same(lambda: params.parse_mail(line, keywords), lambda: former.parse_mail(line, keywords))


@settings(max_examples=400, deadline=None)
@given(texts, st.booleans())
def test_parse_rcpt(arg: str, smtputf8: bool) -> None:
    same(
        lambda: params.parse_rcpt(arg, smtputf8=smtputf8),
        lambda: former.parse_rcpt(arg, smtputf8=smtputf8),
    )
    line = "TO:" + arg
    same(
        lambda: params.parse_rcpt(line, smtputf8=smtputf8),
        lambda: former.parse_rcpt(line, smtputf8=smtputf8),
    )


@settings(max_examples=400, deadline=None)
@given(texts, st.booleans(), st.booleans())
def test_parse_path_and_address(text: str, smtputf8: bool, allow_null: bool) -> None:
    same(
        lambda: address.parse_path(text, smtputf8=smtputf8, allow_null=allow_null),
        lambda: former.parse_path(text, smtputf8=smtputf8, allow_null=allow_null),
    )
    same(
        lambda: address.parse_address(text, smtputf8=smtputf8),
        lambda: former.parse_address(text, smtputf8=smtputf8),
    )


@settings(max_examples=300, deadline=None)
@given(st.one_of(joined, st.text(max_size=80)), st.booleans())
def test_normalize_domain_and_dot_string(text: str, smtputf8: bool) -> None:
    # Both orders of smtputf8, so a cached SMTPUTF8 result cannot leak.
    for utf8 in (not smtputf8, smtputf8):
        same(
            lambda u=utf8: address.normalize_domain(text, smtputf8=u, text="<x>", offset=3),
            lambda u=utf8: former.normalize_domain(text, smtputf8=u, text="<x>", offset=3),
        )
        assert address.is_dot_string(text, utf8) == former.is_dot_string(text, utf8)
    assert address.quote_localpart(text) == former.quote_localpart(text)


@pytest.mark.parametrize(
    "arg",
    [
        "FROM:<sender@client.test> SIZE=5120",
        "FROM:<sender@client.test>",
        "FROM: <Sender@Client.TEST>  SIZE=5120  BODY=8BITMIME ",
        "FROM:<>",
        'FROM:<"a>b"@client.test> SIZE=1',
        "FROM:<a@b.test>x SIZE=1",
        "FROM:<a@b@c.test>",
        "FROM:<a..b@c.test>",
        "FROM:<" + "a" * 64 + "@c.test>",
        "FROM:<" + "a" * 65 + "@c.test>",
        "FROM:<é@bücher.example> SMTPUTF8",
        "FROM:<a@bücher.example>",
        "FROM:<a@xn--zz.example>",
        "FROM:<@relay.test:a@c.test>",
        "FROM:<a@[127.0.0.1]>",
        "FROM:<a@c.test> SIZE=x",
        "FROM:<a@c.test> FOO",
        "FROM:<a@c.test",
    ],
)
def test_mail_examples(arg: str) -> None:
    for keywords in (SESSION_KEYWORDS, frozenset()):
        same(
            lambda k=keywords: params.parse_mail(arg, k),
            lambda k=keywords: former.parse_mail(arg, k),
        )


@pytest.mark.parametrize(
    "arg",
    [
        "TO:<rcpt@bench.test>",
        "TO:<Postmaster>",
        "TO:<rcpt@bench.test> NOTIFY=NEVER",
        "TO:<>",
        "TO:<rcpt@bench.test.>",
        "TO:<rcpt@-bench.test>",
        "TO:<rcpt@bücher.example>",
        "TO:<rcpt\ud800@bench.test>",
    ],
)
def test_rcpt_examples(arg: str) -> None:
    for smtputf8 in (False, True, False):
        same(
            lambda u=smtputf8: params.parse_rcpt(arg, smtputf8=u),
            lambda u=smtputf8: former.parse_rcpt(arg, smtputf8=u),
        )


def test_domain_cache_is_bounded() -> None:
    for i in range(address._DOMAIN_CACHE_MAX + 10):
        address.normalize_domain(f"d{i}.example")
    assert len(address._DOMAIN_CACHE) <= address._DOMAIN_CACHE_MAX
    assert address.normalize_domain("D1.Example") == "d1.example"
