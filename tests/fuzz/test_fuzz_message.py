"""Fuzzing the message header parsers: the store's envelope (never raises) and
the queue's header fields and flags."""

from __future__ import annotations

from fuzzing import bounded
from hypothesis import given
from hypothesis import strategies as st

from postel.queue.headers import flags_from_header, header_fields, split_header
from postel.store.envelope import header_block, parse_envelope

names = st.sampled_from(
    ["From", "To", "Cc", "Subject", "Date", "Message-ID", "In-Reply-To", "Content-Type",
     "MIME-Version", "TLS-Required", "TLS-Report-Domain", "TLS-Report-Submitter", "X"]
)  # fmt: skip
values = st.one_of(
    st.text(max_size=80),
    st.binary(max_size=80).map(lambda b: b.decode("latin-1")),
    st.sampled_from(
        ["=?utf-8?b?w6k=?=", "=?x?q?bad", "No", "multipart/mixed; boundary=b",
         "Thu, 31 Feb 2026 99:99:99 +9999", "<a@b>", "\r\n\tfolded", "", ";;;"]
    ),
)  # fmt: skip
headers = st.lists(st.tuples(names, values), max_size=12).map(
    lambda hs: "".join(f"{n}: {v}\r\n" for n, v in hs).encode("utf-8", "surrogateescape")
)
messages = st.one_of(
    st.tuples(headers, st.binary(max_size=300)).map(lambda t: t[0] + b"\r\n" + t[1]),
    st.binary(max_size=1000),
)


@bounded
@given(messages)
def test_envelope_never_raises(data: bytes) -> None:
    env = parse_envelope(header_block(data))
    assert isinstance(env.subject, str) and isinstance(env.message_id, str)


@bounded
@given(messages, st.booleans())
def test_queue_header_fields_and_flags(data: bytes, eightbit: bool) -> None:
    block = split_header(data)
    assert data.startswith(block) or not block
    fields = header_fields(block)
    assert all(isinstance(n, str) and isinstance(v, str) for n, v in fields)
    flags = flags_from_header(block, eightbit=eightbit)
    assert flags.eightbit in (True, False)
