"""Where a domain wants its aggregate reports (RFC 7489 §6.3 rua=, ri=; §6.4
size limits; §7.1 verification of external destinations).

The record is looked up again when reports are sent: the rua and ri of the
record at that time apply. postel's record parser drops the `!size` suffix of
URIs, so the rua value is read here from the record's text.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass

from postel.auth.dmarc.record import DMARCRecord, parse_record, select_record
from postel.auth.domain import organizational_domain
from postel.dns import NotFound, Resolver
from postel.smtp.address import parse_address
from postel.smtp.errors import AddressError

DAY = 86400
# RFC 7489 §6.4 size units: powers of 2^10.
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_URI_SIZE = re.compile(r"^(?P<uri>.*?)(?:!(?P<n>[0-9]+)(?P<unit>[kmgt]?))?$", re.IGNORECASE)


@dataclass(frozen=True)
class ReportURI:
    """One rua URI: the mailto address, and the largest report it takes (None: any)."""

    uri: str
    address: str  # "" for a URI that is not mailto:
    max_bytes: int | None = None

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2].lower()


def _tags(text: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for part in text.split(";")[1:]:
        name, eq, value = part.partition("=")
        name = name.strip(" \t").lower()
        if eq and name and name not in tags:
            tags[name] = value.strip(" \t")
    return tags


def _mailbox(text: str) -> str:
    """*text* if it is one plain ASCII mailbox (RFC 5321 §4.1.2), else "": the
    address goes into RCPT TO and the To header, so nothing else may pass."""
    try:
        return str(parse_address(text, smtputf8=False))
    except AddressError:
        return ""


def parse_rua(text: str) -> list[ReportURI]:
    """The rua URIs of a DMARC record's *text*, with their size limits (§6.4)."""
    out: list[ReportURI] = []
    for raw in _tags(text).get("rua", "").split(","):
        raw = raw.strip()
        if not raw:
            continue
        m = _URI_SIZE.match(raw)
        assert m is not None
        uri = m.group("uri")
        limit = None
        if m.group("n") is not None:
            limit = int(m.group("n")) * _UNITS[m.group("unit").lower()]
        address = ""
        if uri[:7].lower() == "mailto:":
            # RFC 6068: the address before any ?header part, percent-decoded.
            address = _mailbox(urllib.parse.unquote(uri[7:].split("?", 1)[0]).strip())
        if all(u.uri.lower() != uri.lower() for u in out):
            out.append(ReportURI(uri, address, limit))
    return out


def parse_interval(text: str) -> int:
    """ri= in seconds (RFC 7489 §6.3; default 86400); invalid values give the default."""
    value = _tags(text).get("ri", "")
    if re.fullmatch(r"[0-9]{1,10}", value):
        return max(1, int(value))
    return DAY


@dataclass(frozen=True)
class Destinations:
    """The policy domain's record as found when sending."""

    name: str
    text: str
    record: DMARCRecord
    uris: list[ReportURI]
    interval: int


async def lookup(resolver: Resolver, policy_domain: str) -> Destinations | None:
    """The DMARC record at `_dmarc.<policy_domain>`; None when there is none.

    Raises DMARCSyntaxError for an unusable record, DNSError when DNS failed.
    """
    name = f"_dmarc.{policy_domain}"
    try:
        answer = await resolver.txt(name)
    except NotFound:
        return None
    text = select_record(answer.texts())
    if text is None:
        return None
    record = parse_record(text)
    return Destinations(name, text, record, parse_rua(text), parse_interval(text))


def needs_verification(policy_domain: str, address_domain: str) -> bool:
    """RFC 7489 §7.1: a destination outside the policy domain's organizational
    domain must confirm that it accepts the reports."""
    return organizational_domain(address_domain) != organizational_domain(policy_domain)


async def verified(resolver: Resolver, policy_domain: str, address_domain: str) -> bool:
    """RFC 7489 §7.1: `<policy-domain>._report._dmarc.<destination>` TXT holds a
    record starting with v=DMARC1. DNSError (temporary) propagates."""
    name = f"{policy_domain}._report._dmarc.{address_domain}"
    try:
        answer = await resolver.txt(name)
    except NotFound:
        return False
    return any(re.match(r"v[ \t]*=[ \t]*DMARC1[ \t]*(;|$)", t) for t in answer.texts())
