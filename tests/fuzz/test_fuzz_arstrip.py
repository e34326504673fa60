"""Fuzzing the removal of Authentication-Results fields with our authserv-id
(postel.auth.arstrip) and the address classification (postel.netpolicy):
untrusted input, never an exception; fields that are ours always go, the
others and the body stay."""

from __future__ import annotations

import email.parser
import email.policy

from fuzzing import bounded
from hypothesis import given
from hypothesis import strategies as st

from postel.auth.arstrip import header_end, strip_own_results
from postel.netpolicy import PUBLIC_ONLY, AddressPolicy

OURS = "mail.example.org"

ids = st.sampled_from(
    [OURS, OURS.upper(), OURS + ".", f'"{OURS}"', f"(c) {OURS}", f"\r\n\t{OURS}",
     "other.example", f"{OURS}.evil.example", f"x{OURS}", '"x"', ""]
)  # fmt: skip
rest = st.sampled_from(["; dmarc=pass", " 1; spf=pass", ";\r\n\tdkim=pass", "", "; none"])
other_fields = st.sampled_from(
    ["From: a@example.org", "Subject: x", "X-Authentication-Results: " + OURS + "; dmarc=pass",
     "Authentication-Results-X: " + OURS, "Received: from x\r\n\tby y", "To: b@example.org"]
)  # fmt: skip
names = st.sampled_from(["Authentication-Results", "authentication-results",
                         "AUTHENTICATION-RESULTS ", "Authentication-Results\t"])  # fmt: skip
fields = st.one_of(
    st.tuples(names, ids, rest).map(lambda t: (f"{t[0]}: {t[1]}{t[2]}", t[1])),
    other_fields.map(lambda f: (f, None)),
)


def is_ours(authserv_id: str | None) -> bool:
    if authserv_id is None:
        return False
    plain = authserv_id.replace("(c)", "").strip(' \r\n\t"').rstrip(".").lower()
    return plain == OURS


@bounded
@given(st.lists(fields, max_size=10), st.binary(max_size=200))
def test_own_fields_removed_others_kept(parts: list[tuple[str, str | None]], body: bytes) -> None:
    head = "".join(f + "\r\n" for f, _ in parts).encode()
    message = head + b"\r\n" + body
    out = strip_own_results(message, OURS)
    kept = "".join(f + "\r\n" for f, aid in parts if not is_ours(aid)).encode()
    expected = kept + b"\r\n" + body
    assert (message if out is None else out[0]) == expected
    assert out is None or out[1] == sum(1 for _, aid in parts if is_ours(aid))
    # What a mail client reads from the result has no field of ours.
    parsed = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(expected)
    for value in parsed.get_all("Authentication-Results") or []:
        assert not is_ours(str(value).split(";")[0].strip() or None)


@bounded
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_raise_and_body_kept(message: bytes) -> None:
    out = strip_own_results(message, OURS)
    if out is not None:
        stripped, count = out
        assert count >= 1 and len(stripped) < len(message)
        assert stripped.endswith(message[header_end(message) :])
        assert strip_own_results(stripped, OURS) is None


@bounded
@given(st.text(max_size=60), st.lists(st.text(max_size=30), max_size=3))
def test_address_policy_never_raises(address: str, networks: list[str]) -> None:
    assert PUBLIC_ONLY.refusal(address) is None or PUBLIC_ONLY.refusal(address)
    try:
        policy = AddressPolicy.from_networks(networks)
    except ValueError as exc:
        assert "not an IP network" in str(exc)
        return
    policy.refusal(address)
