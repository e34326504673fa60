"""SPF evaluation: check_host() over postel.dns (RFC 7208 §4, §5, §6)."""

from __future__ import annotations

import functools
import ipaddress
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from postel.auth.bounded import within
from postel.auth.domain import normalize_domain
from postel.auth.errors import SPFSyntaxError
from postel.auth.results import SPFResult, SPFStatus
from postel.auth.spf.macro import MacroContext, expand, expand_domain
from postel.auth.spf.record import Mechanism, Record, parse_record, select_record
from postel.dns import BogusError, DNSError, NotFound, Resolver, TemporaryError

log = logging.getLogger("postel.auth")

# RFC 7208 §4.6.4 limits.
MAX_LOOKUPS = 10
MAX_VOID_LOOKUPS = 2
MAX_MX_NAMES = 10
MAX_PTR_NAMES = 10
MAX_EXP_LENGTH = 512

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_QUALIFIER_RESULT: dict[str, SPFStatus] = {
    "+": "pass",
    "-": "fail",
    "~": "softfail",
    "?": "neutral",
}


class _Abort(Exception):
    """Ends evaluation with a temperror or permerror result."""

    def __init__(self, result: Literal["temperror", "permerror"], reason: str) -> None:
        super().__init__(reason)
        self.result = result
        self.reason = reason


@dataclass
class _Outcome:
    result: SPFStatus
    reason: str = ""
    explanation: str = ""


@dataclass
class _State:
    resolver: Resolver
    ip: IPAddress
    ctx: MacroContext
    lookups: int = 0
    voids: int = 0
    # Cache of answers within one evaluation; (name, rdtype) -> addresses/texts.
    cache: dict[tuple[str, str], list[str]] = field(default_factory=dict)

    def count_lookup(self, what: str) -> None:
        self.lookups += 1
        if self.lookups > MAX_LOOKUPS:
            raise _Abort("permerror", f"more than {MAX_LOOKUPS} DNS lookups (at {what})")

    def count_void(self, what: str) -> None:
        self.voids += 1
        if self.voids > MAX_VOID_LOOKUPS:
            raise _Abort("permerror", f"more than {MAX_VOID_LOOKUPS} void lookups (at {what})")

    async def query(self, name: str, rdtype: str, *, void_counts: bool = True) -> list[str]:
        """Record values as text; [] for NXDOMAIN/NODATA. DNS failures abort with temperror."""
        key = (name, rdtype)
        if key in self.cache:
            return self.cache[key]
        try:
            answer = await self.resolver.lookup(name, rdtype)
        except NotFound:
            values: list[str] = []
        except (TemporaryError, BogusError) as exc:
            raise _Abort("temperror", f"DNS error: {exc}") from exc
        except DNSError as exc:
            raise _Abort("temperror", f"DNS error: {exc}") from exc
        except ValueError:
            values = []  # not a usable name: nothing there
        else:
            values = _values(answer.records, rdtype) if rdtype != "TXT" else answer.texts()
        if not values and void_counts:
            self.count_void(f"{name} {rdtype}")
        self.cache[key] = values
        return values

    async def addresses(self, name: str, *, void_counts: bool = True) -> list[IPAddress]:
        rdtype = "A" if self.ip.version == 4 else "AAAA"
        out: list[IPAddress] = []
        for v in await self.query(name, rdtype, void_counts=void_counts):
            try:
                out.append(ipaddress.ip_address(v))
            except ValueError:
                continue
        return out


def _values(records: Sequence[object], rdtype: str) -> list[str]:
    out: list[str] = []
    for rd in records:
        if rdtype in ("A", "AAAA"):
            out.append(str(getattr(rd, "address", "")))
        elif rdtype == "MX":
            out.append(str(getattr(rd, "exchange", "")))
        elif rdtype == "PTR":
            out.append(str(getattr(rd, "target", "")))
        else:
            out.append(str(rd))
    return [v for v in out if v]


def _in_network(ip: IPAddress, addr: IPAddress, cidr4: int | None, cidr6: int | None) -> bool:
    if ip.version != addr.version:
        return False
    plen = (
        (cidr4 if cidr4 is not None else 32)
        if ip.version == 4
        else (cidr6 if cidr6 is not None else 128)
    )
    net = ipaddress.ip_network((addr, plen), strict=False)
    return ip in net


async def _validated_names(
    state: _State, target: str | None, limit: int = MAX_PTR_NAMES
) -> list[str]:
    """Validated domain names of the client IP (RFC 7208 §5.5); errors: none found."""
    ptr_name = _reverse_name(state.ip)
    try:
        names = await state.query(ptr_name, "PTR", void_counts=False)
    except _Abort:
        return []
    out: list[str] = []
    for raw in names[:limit]:
        name = raw.rstrip(".").lower()
        if target is not None and name != target and not name.endswith("." + target):
            continue
        try:
            addrs = await state.addresses(name, void_counts=False)
        except _Abort:
            continue
        if state.ip in addrs:
            out.append(name)
    return out


@functools.lru_cache(maxsize=1024)
def client_ip(ip: str) -> IPAddress:
    """The client address, IPv4-mapped IPv6 as IPv4; ValueError if not an address.

    Cached: the same few clients send again and again (BENCHMARKS.md).
    """
    addr = ipaddress.ip_address(ip)
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def _reverse_name(ip: IPAddress) -> str:
    return ip.reverse_pointer


async def _match(state: _State, m: Mechanism, domain: str, depth: int) -> bool:
    """Whether mechanism ``m`` matches; raises _Abort for temperror/permerror."""
    name = m.name
    if name == "all":
        return True
    if name in ("ip4", "ip6"):
        assert m.network is not None
        return state.ip.version == m.network.version and state.ip in m.network
    state.count_lookup(str(m))
    target = domain
    if m.domain_spec is not None:
        try:
            target = await expand_domain(m.domain_spec, domain, state.ctx)
        except SPFSyntaxError as exc:
            raise _Abort("permerror", str(exc)) from exc
    if name == "include":
        sub = await _check_host(state, target, depth + 1, use_exp=False)
        if sub.result == "pass":
            return True
        if sub.result in ("fail", "softfail", "neutral"):
            return False
        if sub.result == "temperror":
            raise _Abort("temperror", f"include:{target}: {sub.reason}")
        raise _Abort("permerror", f"include:{target}: {sub.result} {sub.reason}".strip())
    if name == "a":
        addrs = await state.addresses(target)
        return any(_in_network(state.ip, a, m.cidr4, m.cidr6) for a in addrs)
    if name == "mx":
        exchanges = await state.query(target, "MX")
        exchanges = [x for x in exchanges if x not in (".", "")]
        if len(exchanges) > MAX_MX_NAMES:
            raise _Abort("permerror", f"mx:{target}: more than {MAX_MX_NAMES} MX names")
        for x in exchanges:
            addrs = await state.addresses(x.rstrip("."), void_counts=False)
            if any(_in_network(state.ip, a, m.cidr4, m.cidr6) for a in addrs):
                return True
        return False
    if name == "ptr":
        return bool(await _validated_names(state, target.lower()))
    if name == "exists":
        # RFC 7208 §5.7: always an A query, whatever the IP version.
        return bool(await state.query(target, "A"))
    raise _Abort("permerror", f"unknown mechanism {name}")  # pragma: no cover


async def _explanation(state: _State, record: Record, domain: str) -> str:
    """Expanded exp= text (RFC 7208 §6.2); any problem gives no explanation."""
    if record.exp is None:
        return ""
    try:
        target = await expand_domain(record.exp, domain, state.ctx)
        texts = await state.query(target, "TXT", void_counts=False)
        if len(texts) != 1:
            return ""
        text = await expand(texts[0], domain, state.ctx, exp=True)
    except (_Abort, SPFSyntaxError):
        return ""
    if not text.isascii():
        return ""
    return text[:MAX_EXP_LENGTH]


async def _check_host(state: _State, domain: str, depth: int, *, use_exp: bool) -> _Outcome:
    """check_host() for one domain; temperror/permerror come back as outcomes."""
    norm = normalize_domain(domain)
    if norm is None:
        return _Outcome("none", f"invalid domain {domain!r}")
    try:
        texts = await state.query(norm, "TXT", void_counts=False)
    except _Abort as exc:
        return _Outcome(exc.result, exc.reason)
    try:
        text = select_record(texts)
        if text is None:
            return _Outcome("none", f"no SPF record at {norm}")
        record = parse_record(text)
    except SPFSyntaxError as exc:
        return _Outcome("permerror", f"{norm}: {exc}")
    try:
        for m in record.mechanisms:
            if await _match(state, m, norm, depth):
                result = _QUALIFIER_RESULT[m.qualifier]
                outcome = _Outcome(result, f"{norm}: matched {m}")
                if result == "fail" and use_exp:
                    outcome.explanation = await _explanation(state, record, norm)
                return outcome
        if record.redirect is not None:
            # RFC 7208 §6.1: redirect counts as a lookup; no record there is a permerror.
            state.count_lookup(f"redirect={record.redirect}")
            try:
                target = await expand_domain(record.redirect, norm, state.ctx)
            except SPFSyntaxError as exc:
                return _Outcome("permerror", str(exc))
            sub = await _check_host(state, target, depth + 1, use_exp=use_exp)
            if sub.result == "none":
                return _Outcome("permerror", f"redirect={target}: {sub.reason}")
            return sub
    except _Abort as exc:
        return _Outcome(exc.result, exc.reason)
    return _Outcome("neutral", f"{norm}: no mechanism matched")


async def check_host(
    resolver: Resolver,
    *,
    ip: str,
    domain: str,
    sender: str,
    helo: str,
    receiver: str = "unknown",
    identity: Literal["mailfrom", "helo"] = "mailfrom",
    timeout: float = 20.0,
) -> SPFResult:
    """Evaluate SPF for ``ip`` sending as ``sender`` from ``domain`` (RFC 7208 §4).

    Never raises for DNS or record problems: they become temperror/permerror.
    """
    addr = client_ip(ip)
    ctx = MacroContext(sender=sender, ip=addr, helo=helo, receiver=receiver)
    state = _State(resolver, addr, ctx)

    async def validated(d: str) -> str:
        names = await _validated_names(state, None)
        for n in names:
            if n == d or n.endswith("." + d):
                return n
        return names[0] if names else "unknown"

    ctx.validated_name = validated
    shown = normalize_domain(domain) or domain
    try:
        outcome = await within(_check_host(state, domain, 0, use_exp=True), timeout)
    except TimeoutError:
        outcome = _Outcome("temperror", f"SPF evaluation took longer than {timeout}s")
    log.debug(
        "spf result",
        extra={"spf_domain": shown, "ip": ip, "result": outcome.result, "reason": outcome.reason},
    )
    return SPFResult(
        outcome.result, shown, outcome.explanation, identity=identity, reason=outcome.reason
    )
