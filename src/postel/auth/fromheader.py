"""The RFC5322.From author domain for DMARC (RFC 7489 §3.1, §6.6.1)."""

from __future__ import annotations

import email.utils
import re

from postel.auth.domain import normalize_domain
from postel.auth.errors import FromHeaderError

# A From value with one plain address (RFC 5322 §3.4): "local@domain",
# "<local@domain>" or "Display Name <local@domain>" with a dot-atom local part,
# an LDH domain and an atom or simple quoted-string display name. For these
# email.utils.getaddresses is not needed: its answer is the group "domain"
# (the general path below handles everything else; tests compare both).
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_ADDR = rf"{_ATEXT}+(?:\.{_ATEXT}+)*@(?P<domain>[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)"
_DISPLAY = rf'(?:{_ATEXT}+(?: {_ATEXT}+)*|"[A-Za-z0-9!#$%&\'*+/=?^_`{{|}}~. -]*") ?'
_SIMPLE_FROM = re.compile(rf"(?:(?:{_DISPLAY})?(?P<open><))?{_ADDR}(?(open)>)")


def header_section(message: bytes) -> bytes:
    """The header section: everything before the first empty line (RFC 5322 §2.1).

    Same split as ``re.split(rb"\\r?\\n\\r?\\n", message, maxsplit=1)[0]``, by
    bytes.find instead of a regular expression scan.
    """
    end = message.find(b"\n\r\n")
    if end < 0:
        end = message.find(b"\n\n")
    else:
        lf = message.find(b"\n\n", 0, end)
        if lf >= 0:
            end = lf
    if end < 0:
        return message
    if end and message[end - 1] == 0x0D:
        end -= 1
    return message[:end]


def header_values(message: bytes, name: str) -> list[str]:
    """Unfolded values of all header fields called ``name`` (RFC 5322 §2.2.3)."""
    want = name.lower().encode("ascii")
    # A field called ``name`` starts with its first letter (either case).
    initials = (want[:1], want[:1].upper()) if want else None
    out: list[bytes] = []
    current: bytes | None = None
    # Lines split at LF: a CR left at a line's end is removed by strip() below
    # and never makes a line a continuation or gives it a colon.
    for line in header_section(message).split(b"\n"):
        first = line[:1]
        if first == b" " or first == b"\t":
            if current is not None:
                current += b" " + line.strip()
            continue
        if current is not None:
            out.append(current)
            current = None
        if initials is not None and first not in initials:
            continue
        fname, colon, value = line.partition(b":")
        if colon and fname.rstrip(b" \t").lower() == want:
            current = value.strip()
    if current is not None:
        out.append(current)
    return [v.decode("utf-8", "replace") for v in out]


def author_domain(message: bytes) -> str | None:
    """The one From domain (A-label, lower case); None without a From field.

    Several From fields or addresses are accepted only if all domains are equal
    (RFC 7489 §6.6.1); otherwise, or when no domain can be found, FromHeaderError.
    """
    values = header_values(message, "From")
    if not values:
        return None
    if len(values) == 1:
        simple = _SIMPLE_FROM.fullmatch(values[0])
        if simple is not None:
            raw = simple.group("domain")
            dom = normalize_domain(raw)
            if dom is None:
                raise FromHeaderError(f"From header: invalid domain {raw!r} in {values[0]!r}")
            return dom
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
