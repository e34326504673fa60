"""Mailbox addresses and reverse/forward paths (RFC 5321 §4.1.2, RFC 6531 §3.3).

Domains are kept in lower-case A-label form (IDNA 2008 with UTS 46 mapping);
localparts keep their case, unquoted (``"a b"@x`` is stored as ``a b``) and are
quoted again when formatted.
"""

from __future__ import annotations

import ipaddress
import re
import string
from dataclasses import dataclass

import idna

from postel.smtp.errors import AddressError

# RFC 5321 §4.5.3.1.1-3 size limits, in octets.
MAX_LOCALPART = 64
MAX_DOMAIN = 255
MAX_PATH = 256

_ATEXT = frozenset(string.ascii_letters + string.digits + "!#$%&'*+-/=?^_`{|}~")
_LDH_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
# An ASCII Dot-string (RFC 5321 §4.1.2): the common case, checked in one go.
_ATEXT_CLASS = "[" + "".join(re.escape(c) for c in sorted(_ATEXT)) + "]"
_ASCII_DOT_STRING = re.compile(f"{_ATEXT_CLASS}+(?:\\.{_ATEXT_CLASS}+)*")
# <dot-string@domain> with its only '@' before the domain: no quoting, no
# source route; the domain is checked by normalize_domain.
_SIMPLE_PATH = re.compile(f"<({_ASCII_DOT_STRING.pattern})@([^@]*)>")

# Successfully normalised domains (a pure function of the input); bounded,
# since domains in commands come from clients.
_DOMAIN_CACHE: dict[str, str] = {}
_DOMAIN_CACHE_MAX = 4096


def _is_atext(c: str, smtputf8: bool) -> bool:
    return c in _ATEXT or (smtputf8 and ord(c) > 127)


def _is_qtext(c: str, smtputf8: bool) -> bool:
    # RFC 5321 qtextSMTP: %d32-33 / %d35-91 / %d93-126; RFC 6531 adds UTF8-non-ascii.
    o = ord(c)
    return (32 <= o <= 126 and c not in '"\\') or (smtputf8 and o > 127)


def is_dot_string(localpart: str, smtputf8: bool = True) -> bool:
    """Whether *localpart* can be written without quotes (RFC 5321 Dot-string)."""
    if _ASCII_DOT_STRING.fullmatch(localpart):
        return True
    if not localpart or localpart.isascii():
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
    # A non-ASCII domain is cached only after succeeding with SMTPUTF8; for an
    # ASCII one the result does not depend on *smtputf8*.
    if smtputf8 or domain.isascii():
        cached = _DOMAIN_CACHE.get(domain)
        if cached is not None:
            return cached
    result = _normalize_domain(domain, smtputf8, text or domain, offset)
    if len(_DOMAIN_CACHE) >= _DOMAIN_CACHE_MAX:
        _DOMAIN_CACHE.clear()
    _DOMAIN_CACHE[domain] = result
    return result


def _normalize_domain(domain: str, smtputf8: bool, text: str, offset: int) -> str:
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


@dataclass(frozen=True)
class Address:
    """A mailbox: localpart (unquoted, case kept) @ domain (A-label, lower case)."""

    localpart: str
    domain: str

    def __str__(self) -> str:
        return f"{quote_localpart(self.localpart)}@{self.domain}"

    @property
    def needs_smtputf8(self) -> bool:
        """Whether the localpart is non-ASCII (domains can always use A-labels)."""
        return not self.localpart.isascii()

    @property
    def unicode(self) -> str:
        return f"{quote_localpart(self.localpart)}@{domain_to_unicode(self.domain)}"

    def path(self) -> str:
        return f"<{self}>"

    def key(self) -> str:
        """Lower-cased form for lookups (localparts are matched case-insensitively)."""
        return f"{self.localpart.lower()}@{self.domain}"


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
    if (len(text) if text.isascii() else len(text.encode("utf-8"))) > MAX_PATH:
        raise AddressError(f"path longer than {MAX_PATH} octets", text, MAX_PATH)
    simple = _SIMPLE_PATH.fullmatch(text)
    if simple is not None and simple.end(1) <= MAX_LOCALPART + 1:
        # What _parse_mailbox finds for such a path, without its loop.
        at = simple.end(1)
        domain = normalize_domain(simple.group(2), smtputf8=smtputf8, text=text, offset=at + 1)
        return Address(simple.group(1), domain)
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
        if not _ASCII_DOT_STRING.fullmatch(localpart):
            _check_dot_string(localpart, text, pos, smtputf8)
        pos = at
    size = len(localpart) if localpart.isascii() else len(localpart.encode("utf-8"))
    if size > MAX_LOCALPART:
        raise AddressError(f"localpart longer than {MAX_LOCALPART} octets", text, start)
    if pos >= end or text[pos] != "@":
        raise AddressError("missing '@' after localpart", text, pos)
    pos += 1
    domain = normalize_domain(text[pos:end], smtputf8=smtputf8, text=text, offset=pos)
    return Address(localpart, domain)


def _check_dot_string(localpart: str, text: str, offset: int, smtputf8: bool) -> None:
    """Raise AddressError at the first problem of an unquoted localpart
    (RFC 5321 Dot-string; RFC 6531 §3.3 allows non-ASCII with SMTPUTF8)."""
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
