"""Fuzzing the policy and record parsers: MTA-STS policy (RFC 8461 §3.2) and
record (§3.1), TLSRPT record (RFC 8460 §3), DMARC record (RFC 7489 §6.4), SPF
record (RFC 7208 §4.6): a result or the package's own error."""

from __future__ import annotations

from fuzzing import any_input, bounded, samples
from hypothesis import given
from hypothesis import strategies as st

from postel.auth.dmarc.record import parse_record as parse_dmarc
from postel.auth.errors import AuthError
from postel.auth.spf.record import parse_record as parse_spf
from postel.mtasts.errors import MTASTSError
from postel.mtasts.policy import parse_policy
from postel.mtasts.record import parse_record as parse_mtasts_record
from postel.tlsrpt.errors import TLSRPTError
from postel.tlsrpt.record import parse_record as parse_tlsrpt_record

POLICIES = samples("mtasts-policy", ".txt")
RECORDS = samples("mtasts-record", ".txt")

record_text = st.one_of(
    st.text(max_size=200),
    st.lists(
        st.sampled_from(
            ["v=STSv1", "v=TLSRPTv1", "v=DMARC1", "v=spf1", ";", " ", "id=", "rua=",
             "mailto:", "https://", "p=reject", "sp=none", "pct=", "ri=", "fo=1", "adkim=s",
             "include:", "a", "mx", "ip4:", "192.0.2.0/24", "ip6:", "::/0", "-all", "~all",
             "redirect=", "exp=", "%{d}", "%{ir}.", "%", "=", ",", "x" * 40, "例", "\x00"]
        ),
        max_size=20,
    ).map("".join),
)  # fmt: skip


@bounded
@given(any_input(POLICIES))
def test_mtasts_policy(data: bytes) -> None:
    try:
        policy = parse_policy(data)
    except MTASTSError:
        return
    assert policy.mode in ("enforce", "testing", "none")


@bounded
@given(st.one_of(any_input(RECORDS).map(lambda b: b.decode("utf-8", "replace")), record_text))
def test_mtasts_record(text: str) -> None:
    try:
        parse_mtasts_record(text)
    except MTASTSError:
        pass


@bounded
@given(record_text)
def test_tlsrpt_record(text: str) -> None:
    try:
        parse_tlsrpt_record(text)
    except TLSRPTError:
        pass


@bounded
@given(record_text)
def test_dmarc_record(text: str) -> None:
    try:
        parse_dmarc(text)
    except AuthError:
        pass


@bounded
@given(record_text)
def test_spf_record(text: str) -> None:
    try:
        parse_spf(text)
    except AuthError:
        pass
