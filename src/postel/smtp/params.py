"""MAIL FROM / RCPT TO command arguments and ESMTP parameters (RFC 5321 §4.1.1.2-3).

Parameters understood: SIZE (RFC 1870), BODY=7BIT|8BITMIME (RFC 6152),
SMTPUTF8 (RFC 6531), REQUIRETLS (RFC 8689), AUTH=<mailbox>|<> (RFC 4954 §5).
Which of them are acceptable is decided by the caller through *extensions*,
the keywords it announced in EHLO.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from postel.smtp.address import Address, parse_path
from postel.smtp.errors import AddressError, ParameterError

_KEYWORD = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")
_PLAIN_PATH = re.compile(r'<[^">]*>')  # a path without quoted strings

Body = Literal["7BIT", "8BITMIME"]


@dataclass(frozen=True)
class MailParams:
    size: int | None = None
    body: Body | None = None
    smtputf8: bool = False
    requiretls: bool = False
    auth: str | None = None  # decoded xtext; "" for AUTH=<>


_NO_PARAMS = MailParams()  # immutable, shared


@dataclass(frozen=True)
class MailCommand:
    sender: Address | None  # None: null reverse-path
    params: MailParams


@dataclass(frozen=True)
class RcptCommand:
    recipient: Address
    postmaster: bool  # the special <Postmaster> without domain (RFC 5321 §4.1.1.3)


def decode_xtext(value: str) -> str:
    """Decode RFC 3461 §4 xtext (``+XX`` hex escapes)."""
    out = bytearray()
    i = 0
    while i < len(value):
        c = value[i]
        if c == "+":
            hexpart = value[i + 1 : i + 3]
            if len(hexpart) != 2 or not all(h in "0123456789ABCDEF" for h in hexpart):
                raise ParameterError(501, "5.5.4", f"invalid xtext escape at offset {i}")
            out.append(int(hexpart, 16))
            i += 3
            continue
        if not (33 <= ord(c) <= 126) or c == "=":
            raise ParameterError(501, "5.5.4", f"invalid xtext character {c!r} at offset {i}")
        out.append(ord(c))
        i += 1
    return out.decode("utf-8", "replace")


def encode_xtext(value: str) -> str:
    return "".join(
        chr(b) if 33 <= b <= 126 and b not in (ord("+"), ord("=")) else f"+{b:02X}"
        for b in value.encode("utf-8")
    )


def split_params(words: list[str]) -> dict[str, str | None]:
    """``KEY[=VALUE]`` words to a dict with upper-case keys; duplicates are refused."""
    params: dict[str, str | None] = {}
    for word in words:
        key, eq, value = word.partition("=")
        if not _KEYWORD.match(key):
            raise ParameterError(501, "5.5.4", f"invalid parameter {word!r}")
        key = key.upper()
        if key in params:
            raise ParameterError(501, "5.5.4", f"duplicate parameter {key}")
        params[key] = value if eq else None
    return params


def _split_path(argument: str, prefix: str) -> tuple[str, list[str]]:
    """Split ``FROM:<path> params`` into the path and the parameter words."""
    if argument[: len(prefix)].upper() != prefix:
        raise ParameterError(501, "5.5.2", f"syntax: expected {prefix}<address>")
    rest = argument[len(prefix) :].lstrip(" ")  # some clients put a space after ':'
    plain = _PLAIN_PATH.match(rest)
    if plain is not None:
        # No quote before the first '>': the path ends there.
        end = plain.end()
        tail = rest[end:]
        return rest[:end], [w for w in tail.split(" ") if w] if tail else []
    if not rest.startswith("<"):
        raise ParameterError(501, "5.5.2", "syntax: address must be in angle brackets")
    # The path ends at the first '>' outside a quoted string.
    quoted = escaped = False
    for i, c in enumerate(rest):
        if escaped:
            escaped = False
        elif c == "\\" and quoted:
            escaped = True
        elif c == '"':
            quoted = not quoted
        elif c == ">" and not quoted:
            return rest[: i + 1], [w for w in rest[i + 1 :].split(" ") if w]
    raise ParameterError(501, "5.5.2", "syntax: missing '>' after address")


def _address_error(exc: AddressError, sender: bool) -> ParameterError:
    if exc.needs_smtputf8:
        # RFC 6531 §3.5: non-ASCII address without the SMTPUTF8 parameter.
        return ParameterError(553, "5.6.7", f"non-ASCII address needs SMTPUTF8: {exc.reason}")
    # RFC 3463: 5.1.7 bad sender address syntax, 5.1.3 bad destination syntax.
    return ParameterError(501, "5.1.7" if sender else "5.1.3", f"bad address: {exc}")


def parse_mail(argument: str, extensions: frozenset[str]) -> MailCommand:
    """Parse the argument of MAIL (``FROM:<a@b> SIZE=10 ...``).

    *extensions* are the announced EHLO keywords (upper case); a parameter of
    an extension not announced is refused with 555 5.5.4 (RFC 5321 §4.1.1.11).
    """
    path, words = _split_path(argument, "FROM:")
    if not words:
        try:
            return MailCommand(parse_path(path, smtputf8=False), _NO_PARAMS)
        except AddressError as exc:
            raise _address_error(exc, True) from exc
    raw = split_params(words)
    size: int | None = None
    body: Body | None = None
    smtputf8 = requiretls = False
    auth: str | None = None
    for key, value in raw.items():
        if key not in extensions and not (key == "BODY" and "8BITMIME" in extensions):
            raise ParameterError(555, "5.5.4", f"parameter {key} not supported")
        if key == "SIZE":
            if value is None or not value.isdigit() or len(value) > 20:
                raise ParameterError(501, "5.5.4", "SIZE needs a number (RFC 1870)")
            size = int(value)
        elif key == "BODY":
            if value is None or value.upper() not in ("7BIT", "8BITMIME"):
                raise ParameterError(555, "5.5.4", f"BODY={value} not supported")
            body = "7BIT" if value.upper() == "7BIT" else "8BITMIME"
        elif key in ("SMTPUTF8", "REQUIRETLS"):
            if value is not None:
                raise ParameterError(501, "5.5.4", f"{key} takes no value")
            if key == "SMTPUTF8":
                smtputf8 = True
            else:
                requiretls = True
        elif key == "AUTH":
            if value is None:
                raise ParameterError(501, "5.5.4", "AUTH= needs a value (RFC 4954 §5)")
            auth = "" if value == "<>" else decode_xtext(value)
        else:
            raise ParameterError(555, "5.5.4", f"parameter {key} not supported")
    try:
        sender = parse_path(path, smtputf8=smtputf8)
    except AddressError as exc:
        raise _address_error(exc, True) from exc
    return MailCommand(sender, MailParams(size, body, smtputf8, requiretls, auth))


def parse_rcpt(argument: str, *, smtputf8: bool) -> RcptCommand:
    """Parse the argument of RCPT (``TO:<a@b>``); *smtputf8* from the MAIL command."""
    path, words = _split_path(argument, "TO:")
    # No RCPT parameters are offered (no DSN extension yet).
    if words:
        for key in split_params(words):
            raise ParameterError(555, "5.5.4", f"parameter {key} not supported")
    if path.lower() == "<postmaster>":
        return RcptCommand(Address("postmaster", ""), True)
    try:
        recipient = parse_path(path, smtputf8=smtputf8, allow_null=False)
    except AddressError as exc:
        raise _address_error(exc, False) from exc
    assert recipient is not None
    return RcptCommand(recipient, False)
