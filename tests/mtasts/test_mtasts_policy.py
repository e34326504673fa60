"""RFC 8461 §3.2 policy parsing, model and serialisation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postel.mtasts.errors import RESULT_POLICY_INVALID, MTASTSError, PolicySyntaxError
from postel.mtasts.policy import MAX_AGE_LIMIT, Mode, Policy, parse_policy

ENFORCE = (
    "version: STSv1\n"
    "mode: enforce\n"
    "mx: mail.example.com\n"
    "mx: *.example.net\n"
    "mx: backupmx.example.com\n"
    "max_age: 604800\n"
)


def test_rfc_example() -> None:
    policy = parse_policy(ENFORCE)
    assert policy == Policy(
        mode=Mode.ENFORCE,
        max_age=604800,
        mx=("mail.example.com", "*.example.net", "backupmx.example.com"),
    )
    assert policy.version == "STSv1"
    assert policy.text() == ENFORCE


def test_crlf_bytes_and_no_final_terminator() -> None:
    crlf = ENFORCE.replace("\n", "\r\n").encode()
    assert parse_policy(crlf) == parse_policy(ENFORCE)
    assert parse_policy(ENFORCE.rstrip("\n")) == parse_policy(ENFORCE)


def test_whitespace_and_blank_lines() -> None:
    text = "version:STSv1\n\nmode:\t testing \t\r\nmx:  mx.example.org\t\nmax_age: 0\n\n"
    policy = parse_policy(text)
    assert policy == Policy(mode=Mode.TESTING, max_age=0, mx=("mx.example.org",))


def test_first_occurrence_wins() -> None:
    text = (
        "version: STSv1\nmode: testing\nmode: enforce\nmode: bogus\n"
        "mx: a.example\nmax_age: 5\nmax_age: 99999999999\nversion: STSv9\n"
    )
    policy = parse_policy(text)
    assert policy.mode is Mode.TESTING
    assert policy.max_age == 5


def test_extensions_kept_in_order() -> None:
    text = "version: STSv1\nmode: none\nfoo.bar-1: some value, with spaces\nmax_age: 1\nX: ü\n"
    policy = parse_policy(text)
    assert policy.extensions == (("foo.bar-1", "some value, with spaces"), ("X", "ü"))
    assert policy.mx == ()
    assert parse_policy(policy.text()) == policy


def test_policy_lines() -> None:
    policy = Policy(mode=Mode.TESTING, max_age=86400, mx=("mx1.example.org",))
    assert policy.policy_lines() == [
        "version: STSv1",
        "mode: testing",
        "mx: mx1.example.org",
        "max_age: 86400",
    ]


def test_to_json() -> None:
    assert parse_policy(ENFORCE).to_json() == {
        "version": "STSv1",
        "mode": "enforce",
        "max_age": 604800,
        "mx": ["mail.example.com", "*.example.net", "backupmx.example.com"],
        "extensions": [],
    }


def test_matches() -> None:
    policy = parse_policy(ENFORCE)
    assert policy.matches("MAIL.example.com.")
    assert policy.matches("mx1.example.net")
    assert not policy.matches("example.net")
    assert not policy.matches("a.b.example.net")


@pytest.mark.parametrize(
    ("text", "line", "field", "fragment"),
    [
        ("garbage", 1, None, "expected 'key: value'"),
        ("version: STSv1\nmode: doubt\nmx: a.b\nmax_age: 1\n", 2, "mode", "invalid mode"),
        ("version: STSv2\nmode: none\nmax_age: 1\n", 1, "version", "unsupported version"),
        ("version: STSv1\nmode: enforce\nmax_age: 1\n", None, "mx", "at least one mx"),
        ("version: STSv1\nmode: testing\nmax_age: 1\n", None, "mx", "at least one mx"),
        ("mode: none\nmax_age: 1\n", None, "version", "missing required field version"),
        ("version: STSv1\nmax_age: 1\n", None, "mode", "missing required field mode"),
        ("version: STSv1\nmode: none\n", None, "max_age", "missing required field max_age"),
        ("version: STSv1\nmode: none\nmax_age: 31557601\n", 3, "max_age", "maximum"),
        ("version: STSv1\nmode: none\nmax_age: 12345678901\n", 3, "max_age", "1 to 10 digits"),
        ("version: STSv1\nmode: none\nmax_age: -1\n", 3, "max_age", "1 to 10 digits"),
        ("version: STSv1\nmode: none\nmax_age: 1d\n", 3, "max_age", "1 to 10 digits"),
        ("version: STSv1\nmode: none\nmax_age:\n", 3, "max_age", "empty value"),
        ("version: STSv1\nmode: ENFORCE\n", 2, "mode", "invalid mode"),
        ("Version: STSv1\nmode: none\nmax_age: 1\n", None, "version", "missing"),
        ("version : STSv1\n", 1, None, "invalid field name"),
        (" version: STSv1\n", 1, None, "invalid field name"),
        ("version: STSv1\nmode: none\nmax_age: 1\n" + "k" * 33 + ": v\n", 4, None, "longer"),
        ("version: STSv1\nmode: none\nx: a\x00b\nmax_age: 1\n", 3, "x", "control character"),
        ("version: STSv1\nmode: none\nx: a\rb\nmax_age: 1\n", 3, "x", "control character"),
        ("version: STSv1\nmode: testing\nmx: bücher.example\nmax_age: 1\n", 3, "mx", "A-labels"),
        ("version: STSv1\nmode: testing\nmx: mx.example.\nmax_age: 1\n", 3, "mx", "label"),
        ("version: STSv1\nmode: testing\nmx: *.*.example\nmax_age: 1\n", 3, "mx", "wildcard"),
        ("version: STSv1\nmode: testing\nmx: mx*.example\nmax_age: 1\n", 3, "mx", "label"),
        ("version: STSv1\nmode: testing\nmx: *\nmax_age: 1\n", 3, "mx", "wildcard"),
        ("version: STSv1\nmode: testing\nmx: *.\nmax_age: 1\n", 3, "mx", "empty"),
        ("version: STSv1\nmode: testing\nmx: a_b.example\nmax_age: 1\n", 3, "mx", "label"),
        ("version: STSv1\nmode: testing\nmx: -a.example\nmax_age: 1\n", 3, "mx", "label"),
        ("version: STSv1\nmode: testing\nmx: xn--zz.example\nmax_age: 1\n", 3, "mx", "A-label"),
        ("version: STSv1\nmode: testing\nmx: a b.example\nmax_age: 1\n", 3, "mx", "label"),
    ],
)
def test_invalid(text: str, line: int | None, field: str | None, fragment: str) -> None:
    with pytest.raises(PolicySyntaxError) as exc:
        parse_policy(text)
    assert (exc.value.line, exc.value.field) == (line, field)
    assert fragment in str(exc.value)
    if line is not None:
        assert f"line {line}" in str(exc.value)
    if field is not None:
        assert f"field {field}" in str(exc.value)
    assert exc.value.result_type == RESULT_POLICY_INVALID


def test_invalid_utf8_names_line() -> None:
    with pytest.raises(PolicySyntaxError) as exc:
        parse_policy(b"version: STSv1\nmode: none\nx: \xff\nmax_age: 1\n")
    assert exc.value.line == 3


def test_max_age_limit_accepted() -> None:
    policy = parse_policy(f"version: STSv1\nmode: none\nmax_age: {MAX_AGE_LIMIT}\n")
    assert policy.max_age == MAX_AGE_LIMIT
    assert parse_policy("version: STSv1\nmode: none\nmax_age: 0000000001\n").max_age == 1


def test_valid_a_label() -> None:
    text = "version: STSv1\nmode: enforce\nmx: *.XN--BCHER-KVA.example\nmax_age: 1\n"
    assert parse_policy(text).mx == ("*.XN--BCHER-KVA.example",)


_ldh = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_label = st.builds(
    lambda a, mid, z: a + mid + z if mid or z else a,
    st.sampled_from(_ldh),
    st.text(st.sampled_from(_ldh + "-"), max_size=10),
    st.sampled_from(_ldh),
).filter(lambda label: label[2:4] != "--")
_host = st.lists(_label, min_size=1, max_size=4).map(".".join)
_mx = st.builds(lambda wild, host: ("*." if wild else "") + host, st.booleans(), _host)
_ext_name = st.builds(
    lambda a, rest: a + rest,
    st.sampled_from(_ldh),
    st.text(st.sampled_from(_ldh + "_-."), max_size=31),
).filter(lambda n: n not in ("version", "mode", "max_age", "mx"))
_ext_value = st.text(
    st.characters(exclude_categories=("Cc", "Cs")),
    min_size=1,
    max_size=30,
).filter(lambda v: v == v.strip(" "))


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    mode = draw(st.sampled_from(list(Mode)))
    mx = draw(st.lists(_mx, min_size=0 if mode is Mode.NONE else 1, max_size=5))
    return Policy(
        mode=mode,
        max_age=draw(st.integers(0, MAX_AGE_LIMIT)),
        mx=tuple(mx),
        extensions=tuple(draw(st.lists(st.tuples(_ext_name, _ext_value), max_size=3))),
    )


@given(policies())
def test_round_trip(policy: Policy) -> None:
    assert parse_policy(policy.text()) == policy
    assert parse_policy(policy.text().encode().replace(b"\n", b"\r\n")) == policy
    assert "\n".join(policy.policy_lines()) + "\n" == policy.text()


@given(st.text(max_size=200))
def test_random_text_raises_only_package_errors(text: str) -> None:
    try:
        parse_policy(text)
    except MTASTSError:
        pass


@given(st.binary(max_size=200))
def test_random_bytes_raise_only_package_errors(data: bytes) -> None:
    try:
        parse_policy(data)
    except MTASTSError:
        pass


@given(st.lists(st.sampled_from([*ENFORCE.splitlines(), "mode: none", "x: y", ""]), max_size=12))
def test_shuffled_lines_raise_only_package_errors(lines: list[str]) -> None:
    try:
        policy = parse_policy("\n".join(lines))
    except MTASTSError:
        return
    assert policy.mode in set(Mode)
