"""Which hosted domain a setup request is about: from the Host it was sent to
(autoconfig.<domain>, autodiscover.<domain> or <domain>) and the address the
client names. Pure over the domains configuration."""

from __future__ import annotations

from postel.clientsetup.errors import BadSetupRequest
from postel.config.domains import DomainsConfig
from postel.config.names import check_address, check_domain

HOST_PREFIXES = ("autoconfig.", "autodiscover.")
MAX_ADDRESS = 254  # RFC 5321 §4.5.3.1.3: a path is at most 256 octets with its brackets


def checked_address(value: str, where: str) -> str:
    """The address *value* with its domain in A-labels; BadSetupRequest when it is not
    an address."""
    if len(value) > MAX_ADDRESS:
        raise BadSetupRequest(f"address longer than {MAX_ADDRESS} characters", where=where)
    try:
        return check_address(value.strip())
    except ValueError as exc:
        raise BadSetupRequest(str(exc), where=where) from None


def hosted(domains: DomainsConfig, name: str) -> str | None:
    """*name* as configured, when it is a hosted domain."""
    try:
        domain = check_domain(name)
    except ValueError:
        return None
    return domain if domain in domains.domains else None


def host_domain(domains: DomainsConfig, host: str) -> str | None:
    """The hosted domain a Host header names: autoconfig.<d>, autodiscover.<d> or <d>."""
    for prefix in HOST_PREFIXES:
        if host.startswith(prefix):
            return hosted(domains, host[len(prefix) :])
    return hosted(domains, host) if host else None


def request_domain(domains: DomainsConfig, host: str, address: str | None) -> str | None:
    """The hosted domain to answer for, or None (404): the address's domain, which
    must agree with the Host's when both name one; else the Host's. A Host
    autoconfig.<d> or autodiscover.<d> for a domain not hosted: None."""
    by_host = host_domain(domains, host)
    if by_host is None and host.startswith(HOST_PREFIXES):
        return None  # autoconfig.<a domain not hosted here>
    if address is None:
        return by_host
    by_address = hosted(domains, address.rpartition("@")[2])
    if by_address is None or (by_host is not None and by_host != by_address):
        return None
    return by_address
