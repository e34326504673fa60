"""Fuzzing what a client controls at login: SASL messages (RFC 4616, RFC 5802)
and the login limiter's keys; properties of its delay policy."""

from __future__ import annotations

import base64

from fuzzing import bounded
from hypothesis import given
from hypothesis import strategies as st

from postel.loginlimit import Settings, account_key, client_key
from postel.loginlimit.keys import MAX_KEY
from postel.loginlimit.policy import Count, delay, wait
from postel.smtpserver import sasl

scram_atoms = st.sampled_from(
    ["n", "y", "p=tls-unique", ",", "=", "a=", "n=", "r=", "m=", "c=", "p=", "s=", "i=",
     "=2C", "=3D", "=41", "user", "nonce", "biws", "\x00", "é", "", "v=", "e="]
)  # fmt: skip
scram_text = st.one_of(st.lists(scram_atoms, max_size=20).map("".join), st.text(max_size=200))


@bounded
@given(st.one_of(st.binary(max_size=300), scram_text.map(str.encode)))
def test_fuzz_plain_and_text_decode_or_raise_sasl_error(raw: bytes) -> None:
    for text in (base64.b64encode(raw).decode(), raw.decode("latin-1")):
        try:
            _authzid, user, password = sasl.decode_plain(text)
            assert user and password
        except sasl.SASLError:
            pass
        try:
            sasl.decode_text(text)
        except sasl.SASLError:
            pass


@bounded
@given(scram_text, scram_text)
def test_fuzz_scram_messages_parse_or_raise_sasl_error(first: str, final: str) -> None:
    try:
        server = sasl.ScramServer(first)
    except sasl.SASLError:
        return
    server.first(b"\x01" * 16, 4096)
    try:
        assert server.final(final, b"\x02" * 32, b"\x03" * 32) is None
    except sasl.SASLError:
        pass


@bounded
@given(st.one_of(st.ip_addresses().map(str), st.text(max_size=400)))
def test_fuzz_client_key_never_fails_and_is_bounded(host: str) -> None:
    key = client_key(host)
    assert key and len(key) <= MAX_KEY + 50


@bounded
@given(st.one_of(st.none(), st.from_regex(r"[a-z0-9][a-z0-9._-]{0,63}", fullmatch=True)),
       st.text(max_size=2000))  # fmt: skip
def test_fuzz_account_key_bounded_and_apart(account: str | None, given_name: str) -> None:
    key = account_key(account, given_name)
    assert len(key) <= MAX_KEY + 2
    assert key.startswith("a:" if account is not None else "u:")


@bounded
@given(
    st.integers(0, 10_000),
    st.integers(1, 1000),
    st.floats(0.001, 100),
    st.floats(0.001, 10_000),
)
def test_fuzz_delay_grows_and_is_capped(
    failures: int, free: int, first: float, most: float
) -> None:
    d = delay(failures, free, first, most)
    assert 0 <= d <= most
    assert d <= delay(failures + 1, free, first, most)
    assert (d == 0) == (failures < free)


@bounded
@given(st.lists(st.tuples(st.integers(0, 500), st.floats(0, 1e6), st.integers(1, 200)), max_size=4),
       st.floats(0, 2e6))  # fmt: skip
def test_fuzz_wait_is_bounded(counts: list[tuple[int, float, int]], now: float) -> None:
    s = Settings()
    w = wait([Count(n, latest, free) for n, latest, free in counts], s, now)
    assert w >= 0
    if w > 0:  # never longer than the longest delay after the latest failure
        assert w <= s.max_delay + max(latest for _n, latest, _f in counts) - now
