"""Validation of domain names and addresses in configuration."""

from __future__ import annotations

import re

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


# Results of check_domain (a pure function); bounded, as recipient domains
# come from SMTP clients.
_CHECKED: dict[str, str] = {}
_CHECKED_MAX = 4096


def check_domain(value: str) -> str:
    """Return the domain in lower-case A-label form, or raise ValueError."""
    cached = _CHECKED.get(value)
    if cached is not None:
        return cached
    result = _check_domain(value)
    if len(_CHECKED) >= _CHECKED_MAX:
        _CHECKED.clear()
    _CHECKED[value] = result
    return result


def _check_domain(value: str) -> str:
    value = value.strip().rstrip(".")
    if not value:
        raise ValueError("empty domain name")
    try:
        ascii_name = value.encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        raise ValueError(f"invalid domain name {value!r}: {exc}") from exc
    if len(ascii_name) > 253:
        raise ValueError(f"domain name too long: {value!r}")
    labels = ascii_name.split(".")
    if len(labels) < 2:
        raise ValueError(f"domain name needs at least two labels: {value!r}")
    for label in labels:
        if not _LABEL.match(label):
            raise ValueError(f"invalid label {label!r} in domain name {value!r}")
    return ascii_name


def check_localpart(value: str) -> str:
    if not value or len(value) > 64 or any(c in value for c in ' @\t\r\n<>"\\'):
        raise ValueError(f"invalid localpart {value!r}")
    return value


def check_address(value: str) -> str:
    """Validate localpart@domain; the domain is normalised to A-labels."""
    local, sep, domain = value.rpartition("@")
    if not sep:
        raise ValueError(f"not an email address (no @): {value!r}")
    return f"{check_localpart(local)}@{check_domain(domain)}"
