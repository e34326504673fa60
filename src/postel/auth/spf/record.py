"""SPF record syntax (RFC 7208 §4.5, §4.6, §12): parsing into terms.

Parsing checks the whole record, including macro strings (RFC 7208 §7.1),
so that evaluation only meets errors that depend on DNS data.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

from postel.auth.errors import SPFSyntaxError

VERSION = "v=spf1"
MECHANISMS = ("all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists")
QUALIFIERS = "+-?~"

# RFC 7208 §12: name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." )
_MODIFIER_NAME = re.compile(r"[A-Za-z][A-Za-z0-9\-_.]*")
# ip4-cidr-length = "/" ("0" / %x31-39 0*1DIGIT); ip6 up to 3 digits.
_CIDR4 = re.compile(r"/(0|[1-9][0-9]?)")
_CIDR6 = re.compile(r"//(0|[1-9][0-9]{0,2})")
_MACRO_LETTERS = "slodiphv"
_EXP_LETTERS = _MACRO_LETTERS + "crt"
_DELIMITERS = ".-+,/_="
# toplabel = ( *alphanum ALPHA *alphanum ) / ( 1*alphanum "-" *( alphanum / "-" ) alphanum )
_TOPLABEL = re.compile(
    r"^(?:[A-Za-z0-9]*[A-Za-z][A-Za-z0-9]*|[A-Za-z0-9]+-[A-Za-z0-9\-]*[A-Za-z0-9])$"
)


@dataclass(frozen=True)
class Mechanism:
    """A directive: qualifier and mechanism (RFC 7208 §4.6.2, §5).

    ``domain_spec`` is the unexpanded macro string (None: the current domain);
    ``network`` is set for ip4/ip6; ``cidr4``/``cidr6`` for a and mx.
    """

    qualifier: str
    name: str
    domain_spec: str | None = None
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None
    cidr4: int | None = None
    cidr6: int | None = None

    def __str__(self) -> str:
        q = "" if self.qualifier == "+" else self.qualifier
        arg = ""
        if self.network is not None:
            arg = ":" + self.network.with_prefixlen
        elif self.domain_spec is not None:
            arg = ":" + self.domain_spec
        if self.cidr4 is not None:
            arg += f"/{self.cidr4}"
        if self.cidr6 is not None:
            arg += f"//{self.cidr6}"
        return f"{q}{self.name}{arg}"


@dataclass(frozen=True)
class Modifier:
    """A name=value modifier (RFC 7208 §6); value is an unexpanded macro string."""

    name: str
    value: str

    def __str__(self) -> str:
        return f"{self.name}={self.value}"


@dataclass(frozen=True)
class Record:
    """A parsed SPF record: mechanisms in order, redirect= and exp= if present."""

    mechanisms: tuple[Mechanism, ...]
    redirect: str | None = None
    exp: str | None = None
    other_modifiers: tuple[Modifier, ...] = ()

    def text(self) -> str:
        parts = [VERSION, *(str(m) for m in self.mechanisms)]
        if self.redirect is not None:
            parts.append(f"redirect={self.redirect}")
        if self.exp is not None:
            parts.append(f"exp={self.exp}")
        parts.extend(str(m) for m in self.other_modifiers)
        return " ".join(parts)


def is_spf_record(txt: str) -> bool:
    """RFC 7208 §4.5: the record begins with "v=spf1" followed by space or ends."""
    head = txt[: len(VERSION)]
    return head.lower() == VERSION and (len(txt) == len(VERSION) or txt[len(VERSION)] == " ")


def select_record(texts: Iterable[str]) -> str | None:
    """The one SPF record among TXT values; None without one.

    Raises SPFSyntaxError (permerror) for more than one (RFC 7208 §4.5).
    """
    found = [t for t in texts if is_spf_record(t)]
    if len(found) > 1:
        raise SPFSyntaxError(f"{len(found)} TXT records start with v=spf1, expected one")
    return found[0] if found else None


def check_macro_string(value: str, *, exp: bool = False, text: str = "", base: int = 0) -> None:
    """Validate a macro-string (RFC 7208 §7.1); ``exp`` allows c, r, t and spaces."""
    letters = _EXP_LETTERS if exp else _MACRO_LETTERS
    i = 0
    n = len(value)
    while i < n:
        c = value[i]
        if c == "%":
            if i + 1 >= n:
                raise SPFSyntaxError("'%' at end of macro string", text=text, offset=base + i)
            nxt = value[i + 1]
            if nxt in "%_-":
                i += 2
                continue
            if nxt != "{":
                raise SPFSyntaxError(f"invalid macro escape '%{nxt}'", text=text, offset=base + i)
            end = value.find("}", i + 2)
            if end < 0:
                raise SPFSyntaxError("unterminated macro '%{'", text=text, offset=base + i)
            parse_macro_body(value[i + 2 : end], letters=letters, text=text, offset=base + i)
            i = end + 1
            continue
        o = ord(c)
        if not (0x21 <= o <= 0x7E or (exp and c == " ")):
            raise SPFSyntaxError(
                f"invalid character {c!r} in macro string", text=text, offset=base + i
            )
        i += 1


def parse_macro_body(
    body: str, *, letters: str = _EXP_LETTERS, text: str = "", offset: int = 0
) -> tuple[str, int | None, bool, str]:
    """Parse the inside of ``%{...}``: letter, digits, reverse flag, delimiters."""
    if not body or body[0].lower() not in letters:
        shown = body[:1] or "nothing"
        raise SPFSyntaxError(f"invalid macro letter {shown!r}", text=text, offset=offset)
    letter = body[0]
    j = 1
    while j < len(body) and body[j].isdigit() and body[j].isascii():
        j += 1
    digits: int | None = None
    if j > 1:
        digits = int(body[1:j])
        # RFC 7208 §7.3: a DIGIT transformer must be nonzero.
        if digits == 0:
            raise SPFSyntaxError("macro digit transformer is zero", text=text, offset=offset)
    reverse = False
    if j < len(body) and body[j] in "rR":
        reverse = True
        j += 1
    delims = body[j:]
    for d in delims:
        if d not in _DELIMITERS:
            raise SPFSyntaxError(f"invalid macro delimiter {d!r}", text=text, offset=offset)
    return letter, digits, reverse, delims


def _check_domain_spec(spec: str, text: str, base: int) -> None:
    """domain-spec = macro-string domain-end (RFC 7208 §7.1)."""
    if not spec:
        raise SPFSyntaxError("empty domain-spec", text=text, offset=base)
    check_macro_string(spec, text=text, base=base)
    if spec.endswith("}"):
        return  # ends in a macro-expand
    labels = spec.rstrip(".") if spec.endswith(".") else spec
    if "." not in labels:
        raise SPFSyntaxError(
            f"domain-spec {spec!r} must end in a macro or a dotted name", text=text, offset=base
        )
    top = labels.rsplit(".", 1)[1]
    if "%" in top or not _TOPLABEL.match(top):
        raise SPFSyntaxError(
            f"domain-spec {spec!r} has an invalid top label {top!r}", text=text, offset=base
        )


def _split_dual_cidr(arg: str, text: str, base: int) -> tuple[str, int | None, int | None]:
    """Split a trailing dual-cidr-length off (RFC 7208 §5.6)."""
    cidr4: int | None = None
    cidr6: int | None = None
    m6 = re.search(r"//([0-9]+)$", arg)
    if m6:
        full = _CIDR6.fullmatch("//" + m6.group(1))
        if not full or int(m6.group(1)) > 128:
            raise SPFSyntaxError(
                f"invalid ip6 cidr length {m6.group(1)!r}", text=text, offset=base + m6.start()
            )
        cidr6 = int(m6.group(1))
        arg = arg[: m6.start()]
    m4 = re.search(r"/([0-9]+)$", arg)
    if m4:
        full = _CIDR4.fullmatch("/" + m4.group(1))
        if not full or int(m4.group(1)) > 32:
            raise SPFSyntaxError(
                f"invalid ip4 cidr length {m4.group(1)!r}", text=text, offset=base + m4.start()
            )
        cidr4 = int(m4.group(1))
        arg = arg[: m4.start()]
    return arg, cidr4, cidr6


def _parse_ip(
    name: str, arg: str, text: str, base: int
) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """ip4-network [ip4-cidr-length] / ip6-network [ip6-cidr-length] (RFC 7208 §5.6)."""
    addr, _, length = arg.partition("/")
    try:
        if name == "ip4":
            if not re.fullmatch(r"[0-9.]+", addr):
                raise ValueError(addr)
            ip4 = ipaddress.IPv4Address(addr)
            plen = 32
            if _:
                if not _CIDR4.fullmatch("/" + length) or int(length) > 32:
                    raise SPFSyntaxError(
                        f"invalid ip4 cidr length {length!r}", text=text, offset=base
                    )
                plen = int(length)
            return ipaddress.IPv4Network((ip4, plen), strict=False)
        if not re.fullmatch(r"[0-9A-Fa-f:.]+", addr):
            raise ValueError(addr)
        ip6 = ipaddress.IPv6Address(addr)
        plen = 128
        if _:
            if not re.fullmatch(r"0|[1-9][0-9]{0,2}", length) or int(length) > 128:
                raise SPFSyntaxError(f"invalid ip6 cidr length {length!r}", text=text, offset=base)
            plen = int(length)
        return ipaddress.IPv6Network((ip6, plen), strict=False)
    except ValueError:
        raise SPFSyntaxError(f"invalid {name} address {addr!r}", text=text, offset=base) from None


def _parse_mechanism(term: str, text: str, base: int) -> Mechanism:
    qualifier = "+"
    body = term
    if body[0] in QUALIFIERS:
        qualifier = body[0]
        body = body[1:]
        base += 1
    m = re.match(r"[A-Za-z0-9]+", body)
    name = m.group(0).lower() if m else ""
    rest = body[len(name) :]
    if name not in MECHANISMS:
        raise SPFSyntaxError(f"unknown mechanism {term!r}", text=text, offset=base)
    argbase = base + len(name) + 1
    if name == "all":
        if rest:
            raise SPFSyntaxError("'all' takes no argument", text=text, offset=base)
        return Mechanism(qualifier, name)
    if name in ("ip4", "ip6"):
        if not rest.startswith(":") or len(rest) < 2:
            raise SPFSyntaxError(f"{name} needs ':' and a network", text=text, offset=base)
        return Mechanism(qualifier, name, network=_parse_ip(name, rest[1:], text, argbase))
    if name in ("include", "exists"):
        if not rest.startswith(":"):
            raise SPFSyntaxError(f"{name} needs ':' and a domain-spec", text=text, offset=base)
        _check_domain_spec(rest[1:], text, argbase)
        return Mechanism(qualifier, name, domain_spec=rest[1:])
    if name == "ptr":
        if not rest:
            return Mechanism(qualifier, name)
        if not rest.startswith(":"):
            raise SPFSyntaxError(f"unexpected {rest!r} after ptr", text=text, offset=base + 3)
        _check_domain_spec(rest[1:], text, argbase)
        return Mechanism(qualifier, name, domain_spec=rest[1:])
    # a and mx: [":" domain-spec] [dual-cidr-length]
    spec_part, cidr4, cidr6 = _split_dual_cidr(rest, text, base + len(name))
    spec: str | None = None
    if spec_part:
        if not spec_part.startswith(":"):
            raise SPFSyntaxError(
                f"unexpected {spec_part!r} after {name}", text=text, offset=base + len(name)
            )
        spec = spec_part[1:]
        _check_domain_spec(spec, text, argbase)
    return Mechanism(qualifier, name, domain_spec=spec, cidr4=cidr4, cidr6=cidr6)


def parse_record(text: str) -> Record:
    """Parse an SPF record (the TXT value) strictly; raises SPFSyntaxError."""
    if not is_spf_record(text):
        raise SPFSyntaxError("record does not start with 'v=spf1'", text=text, offset=0)
    mechanisms: list[Mechanism] = []
    redirect: str | None = None
    exp: str | None = None
    others: list[Modifier] = []
    pos = len(VERSION)
    for m in re.finditer(r"[^ ]+", text[pos:]):
        term = m.group(0)
        start = pos + m.start()
        mod = _MODIFIER_NAME.match(term)
        if mod and term[mod.end() : mod.end() + 1] == "=":
            name = mod.group(0).lower()
            value = term[mod.end() + 1 :]
            vbase = start + mod.end() + 1
            if name in ("redirect", "exp"):
                # RFC 7208 §6: each at most once; value is a domain-spec.
                if (redirect if name == "redirect" else exp) is not None:
                    raise SPFSyntaxError(f"more than one {name}=", text=text, offset=start)
                _check_domain_spec(value, text, vbase)
                if name == "redirect":
                    redirect = value
                else:
                    exp = value
            else:
                check_macro_string(value, text=text, base=vbase)
                others.append(Modifier(name, value))
            continue
        mechanisms.append(_parse_mechanism(term, text, start))
    return Record(tuple(mechanisms), redirect, exp, tuple(others))
