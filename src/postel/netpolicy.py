"""Which addresses the server may connect to on behalf of others.

MTA-STS policy hosts, MX hosts and report URIs are chosen by whoever controls
a domain's DNS. Following them into loopback, private or other special-purpose
networks would let that party make the server connect to services that are
not on the internet (server-side request forgery). Such addresses are refused
unless an allowed network contains them ([delivery] allowed_internal_networks).

The base is the IANA special-purpose address registries (RFC 6890), as the
standard library's ``is_global`` knows them, made stricter: multicast and
site-local are refused too, and an IPv4 address carried inside an IPv6 one
(IPv4-mapped, NAT64 well-known prefix, 6to4) is judged as that IPv4 address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_PRIVATE = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")  # RFC 1918, RFC 4193
)
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # RFC 6598 carrier-grade NAT
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052 §2.1 well-known prefix
# Special-purpose blocks that older Python versions count as global: IETF
# protocol assignments (RFC 6890 §2.2.2, §2.2.3), SRv6 SIDs (RFC 9602),
# documentation (RFC 9637).
_SPECIAL = tuple(
    ipaddress.ip_network(n) for n in ("192.0.0.0/24", "2001::/23", "5f00::/16", "3fff::/20")
)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a connection to *ip* ends up at, when it carries one."""
    if ip.ipv4_mapped is not None:  # ::ffff:a.b.c.d, RFC 4291 §2.5.5.2
        return ip.ipv4_mapped
    if ip in _NAT64:  # RFC 6052 §3.1: translators must not reach non-global IPv4
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour  # 2002::/16, RFC 3056


def internal_kind(ip: IPAddress) -> str | None:
    """What kind of non-public address *ip* is ("loopback", "private", ...);
    None for a globally reachable unicast address."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            return internal_kind(inner)
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED:
        return "shared (carrier-grade NAT)"
    if any(ip in net for net in _PRIVATE if net.version == ip.version):
        return "private"
    if not ip.is_global or ip.is_reserved:
        return "special-purpose"
    if any(ip in net for net in _SPECIAL if net.version == ip.version):
        return "special-purpose"
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return "special-purpose"
    return None


def parse_networks(texts: Iterable[str]) -> tuple[IPNetwork, ...]:
    """Networks from their text (host bits allowed); ValueError names a bad entry."""
    out: list[IPNetwork] = []
    for text in texts:
        try:
            out.append(ipaddress.ip_network(text.strip(), strict=False))
        except ValueError:
            raise ValueError(f"not an IP network: {text!r}") from None
    return tuple(out)


@dataclass(frozen=True)
class AddressPolicy:
    """Internal addresses are refused unless one of ``allowed`` contains them."""

    allowed: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_networks(cls, texts: Iterable[str]) -> AddressPolicy:
        return cls(parse_networks(texts))

    def refusal(self, address: str) -> str | None:
        """Why *address* may not be connected to ("a loopback address"), None
        when it may. Text that is no IP address is refused."""
        try:
            ip = ipaddress.ip_address(address.strip("[]").split("%", 1)[0])
        except ValueError:
            return "not an IP address"
        kind = internal_kind(ip)
        if kind is None or self._allows(ip):
            return None
        return f"{'an' if kind[0] in 'aeiou' else 'a'} {kind} address"

    def _allows(self, ip: IPAddress) -> bool:
        candidates: list[IPAddress] = [ip]
        if isinstance(ip, ipaddress.IPv6Address):
            inner = _embedded_ipv4(ip)
            if inner is not None:
                candidates.append(inner)
        return any(c in net for c in candidates for net in self.allowed if net.version == c.version)

    def split(self, addresses: Sequence[str]) -> tuple[list[str], list[tuple[str, str]]]:
        """(permitted addresses, [(refused address, why)]) in the given order."""
        permitted: list[str] = []
        refused: list[tuple[str, str]] = []
        for address in addresses:
            why = self.refusal(address)
            if why is None:
                permitted.append(address)
            else:
                refused.append((address, why))
        return permitted, refused


PUBLIC_ONLY = AddressPolicy()
ALLOW_ALL = AddressPolicy(parse_networks(["0.0.0.0/0", "::/0"]))
