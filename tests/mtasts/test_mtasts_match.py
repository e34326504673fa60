"""RFC 8461 §4.1 MX host matching."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postel.mtasts.match import host_matches, matches_any, mx_pattern_error


@pytest.mark.parametrize(
    ("pattern", "host", "expected"),
    [
        ("mail.example.com", "mail.example.com", True),
        ("mail.example.com", "MAIL.Example.COM", True),
        ("MAIL.example.com", "mail.example.com.", True),
        ("mail.example.com", "mail2.example.com", False),
        ("mail.example.com", "example.com", False),
        ("mail.example.com", "x.mail.example.com", False),
        ("*.example.net", "mx1.example.net", True),
        ("*.example.net", "MX1.EXAMPLE.NET.", True),
        ("*.Example.Net", "mx1.example.net", True),
        ("*.example.net", "example.net", False),
        ("*.example.net", "a.b.example.net", False),
        ("*.example.net", ".example.net", False),
        ("*.example.net", "mx1.example.org", False),
        ("*.example.net", "mx1example.net", False),
        ("*.example.net", "*.example.net", True),
    ],
)
def test_host_matches(pattern: str, host: str, expected: bool) -> None:
    assert host_matches(pattern, host) is expected


def test_matches_any() -> None:
    patterns = ["mail.example.com", "*.example.net"]
    assert matches_any(patterns, "x.example.net")
    assert matches_any(patterns, "mail.example.com")
    assert not matches_any(patterns, "example.net")
    assert not matches_any([], "mail.example.com")


@pytest.mark.parametrize(
    "pattern", ["a", "mail.example.com", "*.example.net", "1.2.3.4", "xn--bcher-kva.example"]
)
def test_valid_patterns(pattern: str) -> None:
    assert mx_pattern_error(pattern) is None


@pytest.mark.parametrize(
    "pattern",
    [
        "",
        "*.",
        "*",
        "a..b",
        "a.",
        ".a",
        "*.*.a",
        "a.*.b",
        "-a.b",
        "a-.b",
        "a_b.c",
        "bü.c",
        "a" * 64 + ".b",
        "xn--.b",
        "xn--abc.b",
        ("a" * 60 + ".") * 5 + "b",
    ],
)
def test_invalid_patterns(pattern: str) -> None:
    assert mx_pattern_error(pattern) is not None


_label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)


@given(_label, st.lists(_label, min_size=1, max_size=3))
def test_wildcard_matches_exactly_one_label(first: str, rest: list[str]) -> None:
    base = ".".join(rest)
    assert host_matches("*." + base, f"{first}.{base}")
    assert host_matches("*." + base, f"{first.upper()}.{base.upper()}.")
    assert not host_matches("*." + base, base)
    assert not host_matches("*." + base, f"{first}.{first}.{base}")
    assert host_matches(f"{first}.{base}", f"{first}.{base}")
