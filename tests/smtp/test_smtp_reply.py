"""Replies with enhanced status codes (RFC 5321 §4.2, RFC 3463)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postel.smtp.errors import ReplyError
from postel.smtp.reply import Reply, parse_reply_lines


def test_encode_multiline() -> None:
    r = Reply(250, "2.0.0", "first\nsecond")
    assert r.encode() == b"250-2.0.0 first\r\n250 2.0.0 second\r\n"
    assert Reply(220, None, "ready").encode() == b"220 ready\r\n"


@pytest.mark.parametrize(
    ("code", "enhanced"),
    [(250, "5.0.0"), (550, "5.1"), (550, "5.01.1"), (550, "3.1.1"), (199, None), (600, None)],
)
def test_invalid(code: int, enhanced: str | None) -> None:
    with pytest.raises(ReplyError):
        Reply(code, enhanced, "x")


def test_classes() -> None:
    assert Reply(452, "4.5.3", "x").transient
    assert Reply(550, "5.1.1", "x").permanent
    assert Reply(250, "2.1.5", "x").positive


codes = st.sampled_from([(250, "2"), (451, "4"), (550, "5"), (552, "5")])
texts = st.lists(
    st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=20),
    min_size=1,
    max_size=4,
)


@given(codes, st.integers(0, 999), st.integers(0, 999), texts)
def test_roundtrip(code: tuple[int, str], subject: int, detail: int, lines: list[str]) -> None:
    reply = Reply(code[0], f"{code[1]}.{subject}.{detail}", "\n".join(lines))
    assert parse_reply_lines(reply.lines()) == reply
