"""Envelope header parsing for the index (bounded, tolerant)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from postel.store.envelope import (
    FIELD_LIMIT,
    header_block,
    parse_envelope,
    read_header_block,
)


def test_header_block_crlf_and_lf() -> None:
    assert header_block(b"A: 1\r\nB: 2\r\n\r\nbody\r\n\r\n") == b"A: 1\r\nB: 2"
    assert header_block(b"A: 1\nB: 2\n\nbody") == b"A: 1\nB: 2"
    assert header_block(b"\r\nbody") == b""
    # No empty line: up to the last complete line.
    assert header_block(b"A: 1\r\nB: trunc") == b"A: 1\r\n"


def test_read_header_block_is_bounded() -> None:
    data = b"Subject: x\r\n" + b"X-Long: " + b"a" * 1000 + b"\r\n\r\n" + b"b" * 10_000
    fp = io.BytesIO(data)
    block = read_header_block(fp, limit=500)
    assert fp.tell() == 500
    assert block == b"Subject: x\r\n"


def test_parse_full_envelope() -> None:
    env = parse_envelope(
        b"From: =?iso-8859-1?q?J=F6rg?= <jorg@example.org>\r\n"
        b"To: a@example.org,\r\n b@example.org\r\n"
        b"Subject: folded\r\n subject\r\n"
        b"Date: Mon, 1 Jan 2024 12:00:00 -0500\r\n"
        b"Message-ID:  <id@example.org> \r\n"
        b"Content-Type: multipart/mixed; boundary=x\r\n"
    )
    assert env.from_ == "Jörg <jorg@example.org>"
    assert env.to == "a@example.org, b@example.org"
    assert env.subject == "folded subject"
    assert env.date == datetime(2024, 1, 1, 12, tzinfo=timezone(timedelta(hours=-5)))
    assert env.message_id == "<id@example.org>"
    assert env.in_reply_to == "" and env.cc == ""
    assert env.has_attachments is True


def test_date_without_zone_is_utc() -> None:
    env = parse_envelope(b"Date: Mon, 1 Jan 2024 12:00:00 -0000\r\n")
    assert env.date == datetime(2024, 1, 1, 12, tzinfo=UTC)


def test_attachment_guess() -> None:
    def guess(ct: bytes) -> bool:
        return parse_envelope(b"Subject: s\r\n" + ct).has_attachments

    assert guess(b"") is False  # text/plain by default
    assert guess(b"Content-Type: text/html\r\n") is False
    assert guess(b"Content-Type: multipart/alternative; boundary=b\r\n") is False
    assert guess(b"Content-Type: multipart/mixed; boundary=b\r\n") is True
    assert guess(b"Content-Type: application/pdf\r\n") is True
    assert guess(b"Content-Disposition: attachment; filename=a.txt\r\n") is True


def test_bad_input_is_tolerated() -> None:
    env = parse_envelope(
        b'From: <<<@@@\r\nTo: "unterminated\r\nDate: not a date\r\n'
        b"Subject: \xff\xfe\x00bin\r\nMessage-ID: <\r\n"
    )
    assert env.date is None
    assert "bin" in env.subject and "\x00" not in env.subject
    assert parse_envelope(b"").subject == ""
    assert parse_envelope(b"no colon at all\r\n").subject == ""


def test_long_values_are_truncated() -> None:
    env = parse_envelope(b"Subject: " + b"x" * 10_000 + b"\r\n")
    assert len(env.subject) == FIELD_LIMIT


@given(st.binary(max_size=2000))
def test_never_raises_on_bytes(data: bytes) -> None:
    env = parse_envelope(header_block(data))
    for value in (env.subject, env.from_, env.to, env.cc, env.message_id, env.in_reply_to):
        assert "\r" not in value and "\n" not in value and len(value) <= FIELD_LIMIT


@given(
    st.lists(
        st.tuples(
            st.sampled_from(
                [
                    "From",
                    "To",
                    "Cc",
                    "Subject",
                    "Date",
                    "Message-ID",
                    "In-Reply-To",
                    "Content-Type",
                    "Content-Disposition",
                ]
            ),
            st.text(max_size=100),
        ),
        max_size=10,
    )
)
def test_never_raises_on_headers(headers: list[tuple[str, str]]) -> None:
    block = "".join(f"{k}: {v}\r\n" for k, v in headers).encode("utf-8", "surrogateescape")
    parse_envelope(block)


def _former_header_block(data: bytes) -> bytes:
    if data.startswith((b"\r\n", b"\n")):
        return b""
    ends = [i for i in (data.find(b"\r\n\r\n"), data.find(b"\n\n")) if i >= 0]
    if ends:
        return data[: min(ends)]
    last = data.rfind(b"\n")
    return data[: last + 1] if last >= 0 else data


@settings(max_examples=500)
@given(st.lists(st.sampled_from([b"a", b":", b" ", b"\r", b"\n", b"\r\n", b"\n\n"]),
                max_size=60).map(b"".join))  # fmt: skip
def test_header_block_same_as_former(data: bytes) -> None:
    from postel.store.envelope import header_block

    assert header_block(data) == _former_header_block(data)
