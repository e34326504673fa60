"""The fast paths of verify_message against the code they replaced (same results).

header_values, author_domain and the unsigned-message test are compared with
the former implementations (copied here as references); ``within`` with
asyncio.timeout; client_ip with ipaddress.
"""

from __future__ import annotations

import asyncio
import email.utils
import ipaddress
import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from postel.auth.bounded import within
from postel.auth.dkim_verify import may_be_signed, signature_headers
from postel.auth.domain import normalize_domain
from postel.auth.errors import FromHeaderError
from postel.auth.fromheader import author_domain, header_section, header_values
from postel.auth.spf.evaluate import client_ip

# --- references: the implementations before the fast paths -------------------------


def old_header_values(message: bytes, name: str) -> list[str]:
    head = re.split(rb"\r?\n\r?\n", message, maxsplit=1)[0]
    want = name.lower().encode("ascii")
    out: list[bytes] = []
    current: bytes | None = None
    for line in re.split(rb"\r?\n", head):
        if line[:1] in (b" ", b"\t"):
            if current is not None:
                current += b" " + line.strip()
            continue
        if current is not None:
            out.append(current)
            current = None
        fname, colon, value = line.partition(b":")
        if colon and fname.rstrip(b" \t").lower() == want:
            current = value.strip()
    if current is not None:
        out.append(current)
    return [v.decode("utf-8", "replace") for v in out]


def old_author_domain(message: bytes) -> str | None:
    values = old_header_values(message, "From")
    if not values:
        return None
    domains: set[str] = set()
    for value in values:
        addrs = email.utils.getaddresses([value])
        found = False
        for _display, addr in addrs:
            if not addr or "@" not in addr:
                continue
            raw = addr.rpartition("@")[2].strip().strip("<>[]")
            dom = normalize_domain(raw)
            if dom is None:
                raise FromHeaderError(f"From header: invalid domain {raw!r} in {value!r}")
            domains.add(dom)
            found = True
        if not found:
            raise FromHeaderError(f"From header without an address domain: {value!r}")
    if len(domains) > 1:
        raise FromHeaderError(f"From header names several domains: {', '.join(sorted(domains))}")
    return domains.pop()


_OLD_SIGNATURE_NAME = re.compile(rb"(?i)dkim-signature")


def outcome(f: object, *args: object) -> tuple[str, object]:
    try:
        return ("ok", f(*args))  # type: ignore[operator]
    except FromHeaderError as exc:
        return ("error", str(exc))


# --- strategies -------------------------------------------------------------------------

ATOMS = st.sampled_from(
    ["alice", "Bob", "a.b", "x-y", "o'neil", "ü", "1", "_", "%", "+tag", "Foo Bar", "é.example"]
)
DOMAINS = st.sampled_from(
    [
        "example.com",
        "Example.COM",
        "sub.example.org",
        "x",
        "a..b",
        "-bad.example",
        "xn--bcher-kva.example",
        "bücher.example",
        "[192.0.2.1]",
        "exa mple.com",
        "a.b.c.d.e.f",
        "x" * 64 + ".example",
        "example.com.",
    ]
)
ADDRS = st.builds(lambda local, dom: f"{local}@{dom}", ATOMS, DOMAINS)
DISPLAYS = st.sampled_from(
    [
        "",
        "Alice ",
        "Alice",
        '"Doe, John" ',
        '"x y" ',
        "J. Doe ",
        "(comment) ",
        '"a\\"b" ',
        "=?utf-8?q?x?= ",
    ]
)
SIMPLE = st.one_of(
    ADDRS,
    st.builds(lambda d, a: f"{d}<{a}>", DISPLAYS, ADDRS),
)
NOISE = st.text(alphabet='ab.@<>",;:()[] \t\\-ü', max_size=12)
VALUES = st.one_of(
    SIMPLE,
    st.lists(st.one_of(SIMPLE, NOISE), min_size=1, max_size=3).map(", ".join),
    st.lists(st.one_of(SIMPLE, NOISE, DISPLAYS), max_size=4).map("".join),
    NOISE,
)
NAMES = st.sampled_from(["From", "from", "FROM ", "From\t", "Subject", "To", "X-From", "Date", "f"])
NEWLINES = st.sampled_from(["\r\n", "\n", "\r\r\n", "\r"])


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    out = ""
    for _ in range(draw(st.integers(0, 5))):
        name = draw(NAMES)
        value = draw(VALUES)
        nl = draw(NEWLINES)
        line = f"{name}:{draw(st.sampled_from(['', ' ', '  ']))}{value}{nl}"
        if draw(st.booleans()):
            line += draw(st.sampled_from([" ", "\t", "  "])) + draw(VALUES) + draw(NEWLINES)
        out += line
    if draw(st.booleans()):
        out += draw(NEWLINES) + "From: other@elsewhere.example\r\nbody DKIM-Signature: x\r\n"
    return out.encode("utf-8")


# --- header section, header_values, author_domain --------------------------------------


@given(st.binary(max_size=60))
@example(b"a\r\r\n\r\nb")
@example(b"\n\r\nx")
@example(b"a\n\nb\n\r\nc")
@example(b"a\r\n\nb")
def test_header_section_matches_regex_split(data: bytes) -> None:
    assert header_section(data) == re.split(rb"\r?\n\r?\n", data, maxsplit=1)[0]


@given(st.one_of(messages(), st.binary(max_size=120)), st.sampled_from(["From", "Date", "x", ""]))
@settings(max_examples=500)
def test_header_values_match_former(message: bytes, name: str) -> None:
    assert header_values(message, name) == old_header_values(message, name)


@given(st.one_of(messages(), st.binary(max_size=120)))
@settings(max_examples=1000)
@example(b"From: <sender@client.test>\r\nTo: <r@x.test>\r\n\r\nbody")
@example(b"From: Alice <alice@Example.COM>\r\n\r\n")
@example(b'From: "Doe, John" <j@example.com>\r\n\r\n')
@example(b"From: a@-bad.example\r\n\r\n")
@example(b"From: a@x\r\n\r\n")
def test_author_domain_matches_former(message: bytes) -> None:
    assert outcome(author_domain, message) == outcome(old_author_domain, message)


@given(st.builds(lambda d, a: f"From: {d}<{a}>\r\n\r\n".encode(), DISPLAYS, ADDRS))
@settings(max_examples=300)
def test_author_domain_simple_forms(message: bytes) -> None:
    assert outcome(author_domain, message) == outcome(old_author_domain, message)


# --- unsigned messages ------------------------------------------------------------------

SIGNATURE_TEXT = st.sampled_from(
    ["DKIM-Signature: v=1; d=example.com; s=s", "dkim-signature:x", "X-DKIM-Signature: y", ""]
)


@given(messages(), SIGNATURE_TEXT, st.booleans())
@settings(max_examples=300)
def test_unsigned_test_is_safe(message: bytes, sig: str, first: bool) -> None:
    text = sig.encode() + b"\r\n"
    data = text + message if first else message + text
    if not may_be_signed(data):
        # Nothing dkimpy (or the fallback parser) would find, and the former
        # whole-message test would also have said "maybe" at most.
        assert signature_headers(data)[0] == []
    else:
        assert _OLD_SIGNATURE_NAME.search(data) is not None


def test_unsigned_test_examples() -> None:
    assert may_be_signed(b"DKIM-Signature: v=1\r\nFrom: a@b.c\r\n\r\nx")
    assert may_be_signed(b"From: a@b.c\r\ndkim-SIGNATURE: v=1\r\n\r\nx")
    assert not may_be_signed(b"From: a@b.c\r\n\r\nDKIM-Signature: in the body\r\n")
    assert not may_be_signed(b"From: a@b.c\n\nDKIM-Signature: in the body\n")


# --- client_ip --------------------------------------------------------------------------


@given(
    st.one_of(
        st.ip_addresses().map(str),
        st.text(alphabet="0123456789abcdef.:f", max_size=20),
        st.sampled_from(["::ffff:192.0.2.1", "::FFFF:c000:0201", "192.0.2.1", "", "x"]),
    )
)
def test_client_ip_matches_ipaddress(ip: str) -> None:
    try:
        want = ipaddress.ip_address(ip)
    except ValueError:
        with pytest.raises(ValueError):
            client_ip(ip)
        return
    if isinstance(want, ipaddress.IPv6Address) and want.ipv4_mapped is not None:
        want = want.ipv4_mapped
    assert client_ip(ip) == want


# --- within -----------------------------------------------------------------------------


async def test_within_returns_without_waiting() -> None:
    async def answer() -> int:
        return 42

    loop = asyncio.get_running_loop()
    timers = len(loop._scheduled)  # type: ignore[attr-defined]
    assert await within(answer(), 0.0) == 42
    assert len(loop._scheduled) == timers  # type: ignore[attr-defined]


async def test_within_waits_and_passes_values() -> None:
    async def slow() -> str:
        await asyncio.sleep(0)
        fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_soon(fut.set_result, "done")
        return await fut + "!"

    assert await within(slow(), 5.0) == "done!"


async def test_within_times_out_like_asyncio_timeout() -> None:
    cleaned: list[str] = []

    async def hang() -> None:
        try:
            await asyncio.sleep(10)
        finally:
            cleaned.append("finally")

    with pytest.raises(TimeoutError):
        await within(hang(), 0.01)
    assert cleaned == ["finally"]


async def test_within_propagates_errors() -> None:
    async def fail_now() -> None:
        raise ValueError("now")

    async def fail_later() -> None:
        await asyncio.sleep(0)
        raise KeyError("later")

    with pytest.raises(ValueError, match="now"):
        await within(fail_now(), 1.0)
    with pytest.raises(KeyError, match="later"):
        await within(fail_later(), 1.0)


async def test_within_passes_outer_cancellation_to_the_coroutine() -> None:
    seen: list[str] = []

    async def hang() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    task = asyncio.get_running_loop().create_task(within(hang(), 5.0))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert seen == ["cancelled"]


async def test_within_lets_the_coroutine_handle_cancellation() -> None:
    async def stubborn() -> str:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            await asyncio.sleep(0)
            return "handled"
        return "not reached"

    # asyncio.timeout's own behaviour for a coroutine that swallows the
    # cancellation: the result comes back and no TimeoutError is raised.
    async def reference() -> str:
        async with asyncio.timeout(0.01):
            return await stubborn()

    assert await within(stubborn(), 0.01) == await reference()
