"""Which of the certificate's extra names can be validated now.

The mail host name is always ordered. mta-sts.<domain> and autoconfig.<domain>
(postel.acme.names) are only ordered while their DNS points at the mail host:
a CA validates every name of an order (RFC 8555 §7.1.3), so one name whose
CNAME the operator has not added yet would otherwise leave the mail host
without any certificate. A name left out is added once its record appears
(the loop looks at least hourly and orders again when names are missing).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from postel.dns import Resolver
from postel.dns.errors import DNSError, NotFound

ADDRESS_TYPES = ("A", "AAAA")


def choose_names(
    host: str,
    wanted: list[str],
    addresses: Mapping[str, frozenset[str] | None],
    current: Collection[str],
) -> list[str]:
    """The names to order: *host*, then each other name of *wanted* whose
    addresses (None: the lookup failed) share one with the host's. When a
    lookup fails, a name stays as the certificate in use has it (*current*),
    so that a DNS outage neither drops nor adds names."""
    host_addrs = addresses.get(host)
    out = [host]
    for name in wanted:
        if name == host:
            continue
        addrs = addresses.get(name)
        if host_addrs is None or addrs is None:
            keep = name in current
        else:
            keep = bool(addrs & host_addrs)
        if keep:
            out.append(name)
    return out


async def lookup_addresses(resolver: Resolver, name: str) -> frozenset[str] | None:
    """The A and AAAA addresses of *name* (CNAMEs followed by the resolver);
    empty when it has none, None when a lookup failed."""
    found: set[str] = set()
    for rdtype in ADDRESS_TYPES:
        try:
            answer = await resolver.lookup(name, rdtype)
        except NotFound:
            continue
        except DNSError:
            return None
        found.update(answer.to_texts())
    return frozenset(found)


async def names_pointing_here(
    resolver: Resolver, host: str, wanted: list[str], current: Collection[str]
) -> list[str]:
    """choose_names with the addresses looked up now."""
    addresses = {name: await lookup_addresses(resolver, name) for name in dict.fromkeys(wanted)}
    if host not in addresses:
        addresses[host] = await lookup_addresses(resolver, host)
    return choose_names(host, wanted, addresses, current)
