"""The fast header scan gives exactly what the email package gives."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from postel.store.envelope import _parse_plain, parse_envelope, parse_envelope_email
from postel.store.headerscan import scan_plain

NAMES = ["From", "To", "Cc", "Subject", "Date", "Message-ID", "In-Reply-To", "Content-Type",
         "Content-Disposition", "MIME-Version", "X-Other", "subject", "FROM"]  # fmt: skip
PIECES = ["a", "b.c", "x@y", "x@y.z", "<x@y.z>", "Name", "Name Two", " ", "  ", "\t", ",", ", ",
          "\"q\"", "(c)", "<", ">", "@", ".", "..", "=?utf-8?q?x?=", "text/plain",
          "multipart/mixed", "image/png", ";", "a=b", "Thu, 26 Nov 2026 04:00:00 +0000",
          "26 Nov 2026 04:00 -0000",
          "\r\n ", "\r\n\t", "\n ", "\r", "\x0b", "\x00", "\x85", "é",
          "attachment", "\\"]  # fmt: skip

value = st.lists(st.sampled_from(PIECES), max_size=8).map("".join) | st.text(max_size=30)
header = st.tuples(st.sampled_from(NAMES), value)
eol = st.sampled_from(["\r\n", "\n"])


@settings(max_examples=3000)
@given(st.lists(st.tuples(header, eol), max_size=8))
def test_same_as_email_package(headers: list[tuple[tuple[str, str], str]]) -> None:
    block = "".join(f"{k}: {v}{e}" for (k, v), e in headers).encode("utf-8", "surrogateescape")
    assert parse_envelope(block) == parse_envelope_email(block)


@settings(max_examples=1000)
@given(st.binary(max_size=300))
def test_same_on_bytes(block: bytes) -> None:
    assert parse_envelope(block) == parse_envelope_email(block)


def test_bench_message_is_plain() -> None:
    block = (
        b"From: <sender@client.test>\r\nTo: Rcpt Name <rcpt@bench.test>, b@c.d\r\n"
        b"Subject: load 1\r\nDate: Thu, 26 Nov 2026 04:00:00 +0000\r\n"
        b"Message-ID: <load-1@x>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain"
    )
    assert scan_plain(block) is not None
    fast = _parse_plain(block)
    assert fast is not None
    assert fast == parse_envelope_email(block)
    assert fast.to == "Rcpt Name <rcpt@bench.test>, b@c.d"
    assert fast.from_ == "sender@client.test"


def test_not_plain_falls_back() -> None:
    for block in (b"Subject: =?utf-8?q?x?=\r\n", b'From: "a b" <a@b>\r\n', b"From x\r\n"):
        assert _parse_plain(block) is None
