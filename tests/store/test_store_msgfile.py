"""compose.header_prefix: a short prefix with the same header block as the
first HEADER_LIMIT bytes of the stored message."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from postel.store.envelope import header_block
from postel.store.msgfile import header_prefix

PIECES = st.sampled_from([b"a", b"Subject: x", b":", b" ", b"\r", b"\n", b"\r\n", b"\n\n"])
text = st.lists(PIECES, max_size=40).map(b"".join)


@settings(max_examples=800)
@given(headers=text, body=text, limit=st.integers(1, 200))
def test_same_header_block_as_the_full_prefix(headers: bytes, body: bytes, limit: int) -> None:
    full = (headers + body)[:limit]
    short = header_prefix(headers, body, limit)
    assert full.startswith(short)
    assert header_block(short) == header_block(full)


def test_stops_after_the_first_empty_line() -> None:
    headers = b"Received: from x\r\n"
    body = b"Subject: s\r\n\r\n" + b"y" * 100_000
    short = header_prefix(headers, body, 256 * 1024)
    assert short == headers + b"Subject: s\r\n\r\n"
    assert header_block(short) == headers + b"Subject: s"
