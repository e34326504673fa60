"""The former (pre-optimisation) MAIL/RCPT path and parameter parsers, kept
verbatim only as the reference for tests/smtp/test_smtp_equivalence.py."""

from __future__ import annotations

import ipaddress
import re
import string
from typing import Literal

import idna

from postel.smtp.address import Address
from postel.smtp.errors import AddressError, ParameterError
from postel.smtp.params import MailCommand, MailParams, RcptCommand

# RFC 5321 §4.5.3.1.1-3 size limits, in octets.
MAX_LOCALPART = 64
MAX_DOMAIN = 255
MAX_PATH = 256

_ATEXT = frozenset(string.ascii_letters + string.digits + "!#$%&'*+-/=?^_`{|}~")
_LDH_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")


def _is_atext(c: str, smtputf8: bool) -> bool:
    return c in _ATEXT or (smtputf8 and ord(c) > 127)


def _is_qtext(c: str, smtputf8: bool) -> bool:
    # RFC 5321 qtextSMTP: %d32-33 / %d35-91 / %d93-126; RFC 6531 adds UTF8-non-ascii.
    o = ord(c)
    return (32 <= o <= 126 and c not in '"\\') or (smtputf8 and o > 127)


def is_dot_string(localpart: str, smtputf8: bool = True) -> bool:
    """Whether *localpart* can be written without quotes (RFC 5321 Dot-string)."""
    if not localpart:
        return False
    return all(atom and all(_is_atext(c, smtputf8) for c in atom) for atom in localpart.split("."))


def quote_localpart(localpart: str) -> str:
    """The localpart as Dot-string if possible, else as Quoted-string."""
    if is_dot_string(localpart):
        return localpart
    escaped = localpart.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def normalize_domain(domain: str, *, smtputf8: bool = True, text: str = "", offset: int = 0) -> str:
    """A domain (or address literal) in lower-case A-label form.

    Non-ASCII domains (U-labels) need SMTPUTF8 (RFC 6531 §3.3); without it an
    AddressError with ``needs_smtputf8`` is raised.
    """
    text = text or domain
    if domain.startswith("["):
        return _address_literal(domain, text, offset)
    if not domain:
        raise AddressError("empty domain", text, offset)
    if not domain.isascii():
        if not smtputf8:
            raise AddressError(
                "non-ASCII domain without SMTPUTF8", text, offset, needs_smtputf8=True
            )
        try:
            domain = idna.encode(domain, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError) as exc:
            raise AddressError(f"invalid internationalized domain: {exc}", text, offset) from exc
    labels = domain.split(".")
    for label in labels:
        if not _LDH_LABEL.match(label):
            raise AddressError(f"invalid domain label {label!r}", text, offset)
        if label[2:4] == "--" and label[:2].lower() == "xn":
            try:
                idna.decode(label)
            except (idna.IDNAError, UnicodeError) as exc:
                raise AddressError(f"invalid A-label {label!r}: {exc}", text, offset) from exc
    if len(domain) > MAX_DOMAIN:
        raise AddressError(f"domain longer than {MAX_DOMAIN} octets", text, offset)
    return domain.lower()


def _address_literal(literal: str, text: str, offset: int) -> str:
    # RFC 5321 §4.1.3: [IPv4], [IPv6:...]; general literals are refused.
    if not literal.endswith("]"):
        raise AddressError("unterminated address literal", text, offset)
    inner = literal[1:-1]
    try:
        if inner[:5].lower() == "ipv6:":
            return "[IPv6:" + str(ipaddress.IPv6Address(inner[5:])) + "]"
        return "[" + str(ipaddress.IPv4Address(inner)) + "]"
    except ValueError as exc:
        raise AddressError(f"invalid address literal {literal!r}", text, offset) from exc


def domain_to_unicode(domain: str) -> str:
    """The U-label form of an A-label domain, for display; unchanged if invalid."""
    if domain.startswith("["):
        return domain
    try:
        return str(idna.decode(domain))
    except (idna.IDNAError, UnicodeError):
        return domain


def format_path(address: Address | None) -> str:
    """``<local@domain>``, or ``<>`` for the null reverse-path."""
    return "<>" if address is None else address.path()


def parse_address(text: str, *, smtputf8: bool = True) -> Address:
    """Parse ``local@domain`` (RFC 5321 Mailbox, without angle brackets)."""
    return _parse_mailbox(text, 0, len(text), smtputf8)


def parse_path(text: str, *, smtputf8: bool = False, allow_null: bool = True) -> Address | None:
    """Parse a Reverse-path or Forward-path: ``<local@domain>`` or ``<>``.

    A source route (``<@a,@b:user@d>``) is accepted and ignored (RFC 5321
    §4.1.1.3, Appendix C). Returns None for the null path when *allow_null*.
    """
    if len(text.encode("utf-8")) > MAX_PATH:
        raise AddressError(f"path longer than {MAX_PATH} octets", text, MAX_PATH)
    if not text.startswith("<"):
        raise AddressError("path must start with '<'", text, 0)
    if not text.endswith(">"):
        raise AddressError("path must end with '>'", text, len(text))
    if text == "<>":
        if not allow_null:
            raise AddressError("null path not allowed here", text, 1)
        return None
    pos = 1
    if text.startswith("<@"):
        colon = text.find(":")
        if colon < 0:
            raise AddressError("source route without ':'", text, 1)
        for hop in text[1:colon].split(","):
            if not hop.startswith("@"):
                raise AddressError("source route hop must start with '@'", text, pos)
            normalize_domain(hop[1:], smtputf8=smtputf8, text=text, offset=pos + 1)
            pos += len(hop) + 1
        pos = colon + 1
    return _parse_mailbox(text, pos, len(text) - 1, smtputf8)


def _parse_mailbox(text: str, pos: int, end: int, smtputf8: bool) -> Address:
    """Parse the Mailbox in text[pos:end]."""
    start = pos
    if pos < len(text) and text[pos] == '"':
        chars: list[str] = []
        pos += 1
        while True:
            if pos >= end:
                raise AddressError("unterminated quoted localpart", text, pos)
            c = text[pos]
            if c == '"':
                pos += 1
                break
            if c == "\\":
                if pos + 1 >= end or not (32 <= ord(text[pos + 1]) <= 126):
                    raise AddressError("invalid quoted-pair", text, pos)
                chars.append(text[pos + 1])
                pos += 2
                continue
            if not _is_qtext(c, smtputf8):
                raise AddressError(
                    f"invalid character {c!r} in quoted localpart",
                    text,
                    pos,
                    needs_smtputf8=ord(c) > 127,
                )
            chars.append(c)
            pos += 1
        localpart = "".join(chars)
    else:
        at = text.rfind("@", pos, end)
        if at < 0:
            raise AddressError("missing '@'", text, end)
        localpart = text[pos:at]
        if not localpart:
            raise AddressError("empty localpart", text, pos)
        offset = pos
        for atom in localpart.split("."):
            if not atom:
                raise AddressError("empty atom in localpart", text, offset)
            for i, c in enumerate(atom):
                if not _is_atext(c, smtputf8):
                    raise AddressError(
                        f"invalid character {c!r} in localpart",
                        text,
                        offset + i,
                        needs_smtputf8=ord(c) > 127 and _is_atext(c, True),
                    )
            offset += len(atom) + 1
        pos = at
    if len(localpart.encode("utf-8")) > MAX_LOCALPART:
        raise AddressError(f"localpart longer than {MAX_LOCALPART} octets", text, start)
    if pos >= end or text[pos] != "@":
        raise AddressError("missing '@' after localpart", text, pos)
    pos += 1
    domain = normalize_domain(text[pos:end], smtputf8=smtputf8, text=text, offset=pos)
    return Address(localpart, domain)


_KEYWORD = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")

Body = Literal["7BIT", "8BITMIME"]


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
