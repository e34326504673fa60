"""The former (pre-optimisation) recipient routing and check_domain, kept
verbatim only as the reference for tests/store/test_store_routing_equivalence.py."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from postel.store.routing import Destination

if TYPE_CHECKING:
    from postel.config import Config, DomainsConfig
    from postel.config.model import HostTLSRPT

log = logging.getLogger("postel.store")

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def check_domain(value: str) -> str:
    """Return the domain in lower-case A-label form, or raise ValueError."""
    value = value.strip().rstrip(".")
    if not value:
        raise ValueError("empty domain name")
    try:
        ascii_name = value.encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        raise ValueError(f"invalid domain name {value!r}: {exc}") from exc
    if len(ascii_name) > 253:
        raise ValueError(f"domain name too long: {value!r}")
    labels = ascii_name.split(".")
    if len(labels) < 2:
        raise ValueError(f"domain name needs at least two labels: {value!r}")
    for label in labels:
        if not _LABEL.match(label):
            raise ValueError(f"invalid label {label!r} in domain name {value!r}")
    return ascii_name


INBOX = "Inbox"
MAX_ALIAS_DEPTH = 8
SUBADDRESS_SEPARATOR = "+"


@dataclass(frozen=True)
class _Context:
    domains: DomainsConfig
    hostname: str
    host_tlsrpt: HostTLSRPT | None
    postmaster: tuple[str, str] | None
    addresses: dict[str, tuple[str, str]]  # lower address -> (account, configured address)


def _split(address: str) -> tuple[str, str] | None:
    """(localpart, A-label domain) or None if not a usable address."""
    local, sep, domain = address.strip().rpartition("@")
    if not sep or not local or not domain or domain.startswith("["):
        return None
    try:
        return local, check_domain(domain)
    except ValueError:
        return None


def _is_local_domain(ctx: _Context, domain: str) -> bool:
    return domain in ctx.domains.domains or domain == ctx.hostname


def _match(
    ctx: _Context, local: str, domain: str, depth: int = 0, seen: frozenset[str] = frozenset()
) -> Destination | None:
    """Resolve one exact localpart@domain (no subaddress handling)."""
    key = f"{local.lower()}@{domain}"
    found = ctx.addresses.get(key)
    if found is not None:
        account, configured = found
        return Destination("account", [(account, INBOX)], address=configured)
    dom = ctx.domains.domains.get(domain)
    if dom is not None:
        for report in (dom.dmarc_reports, dom.tlsrpt_reports):
            if report is not None and report.localpart.lower() == local.lower():
                return Destination(
                    "account",
                    [(report.account, report.mailbox)],
                    address=f"{report.localpart}@{domain}",
                )
        for alias, targets in dom.aliases.items():
            if alias.lower() == local.lower():
                return _expand(ctx, f"{alias}@{domain}", targets, depth, seen)
    tlsrpt = ctx.host_tlsrpt
    if (
        tlsrpt is not None
        and tlsrpt.localpart
        and tlsrpt.account
        and domain == ctx.hostname
        and tlsrpt.localpart.lower() == local.lower()
    ):
        return Destination(
            "account", [(tlsrpt.account, tlsrpt.mailbox)], address=f"{tlsrpt.localpart}@{domain}"
        )
    if ctx.postmaster is not None and local.lower() == "postmaster":
        return Destination("account", [ctx.postmaster], address=f"postmaster@{domain}")
    return None


def _expand(
    ctx: _Context, alias: str, targets: list[str], depth: int, seen: frozenset[str]
) -> Destination | None:
    """Expand an alias: local targets recursively (bounded, loop-safe), the
    others become forwards. None when nothing is left."""
    accounts: list[tuple[str, str]] = []
    forward: list[str] = []

    def add_forward(addr: str) -> None:
        if addr.lower() not in (f.lower() for f in forward):
            forward.append(addr)

    seen = seen | {alias.lower()}
    for target in targets:
        parts = _split(target)
        if parts is None:
            continue
        local, domain = parts
        normalized = f"{local}@{domain}"
        if not _is_local_domain(ctx, domain):
            add_forward(normalized)
            continue
        if normalized.lower() in seen or depth >= MAX_ALIAS_DEPTH:
            log.warning("alias loop or nesting too deep", extra={"alias": alias, "target": target})
            continue
        dest = _match(ctx, local, domain, depth + 1, seen)
        if dest is None:
            log.warning(
                "alias target is not a local recipient", extra={"alias": alias, "target": target}
            )
            continue
        for pair in dest.accounts:
            if pair not in accounts:
                accounts.append(pair)
        for f in dest.forward:
            add_forward(f)
    if not accounts and not forward:
        return None
    return Destination("alias", accounts, forward=forward, address=alias)


def resolve_recipient(
    domains: DomainsConfig,
    address: str,
    *,
    hostname: str,
    host_tlsrpt: HostTLSRPT | None = None,
    postmaster_account: str | None = None,
    postmaster_mailbox: str = "Postmaster",
) -> Destination | None:
    """The destination of *address*, or None when it is not a local recipient.

    postmaster@<configured domain or hostname> (and a bare "postmaster")
    goes to *postmaster_account*/*postmaster_mailbox* when an account is given.
    """
    ctx = _Context(
        domains=domains,
        hostname=check_domain(hostname),
        host_tlsrpt=host_tlsrpt,
        postmaster=(postmaster_account, postmaster_mailbox) if postmaster_account else None,
        addresses={
            a.lower(): (name, a) for name, acc in domains.accounts.items() for a in acc.addresses
        },
    )
    original = address
    if "@" not in address.strip():
        # RFC 5321 §4.1.1.3: "Postmaster" without a domain must be accepted.
        if address.strip().lower() == "postmaster" and ctx.postmaster is not None:
            return Destination("account", [ctx.postmaster], address="postmaster", original=original)
        return None
    parts = _split(address)
    if parts is None:
        return None
    local, domain = parts
    if not _is_local_domain(ctx, domain):
        return None
    dest = _match(ctx, local, domain)
    subaddress: str | None = None
    if dest is None and SUBADDRESS_SEPARATOR in local.strip(SUBADDRESS_SEPARATOR):
        base, _, subaddress = local.partition(SUBADDRESS_SEPARATOR)
        dest = _match(ctx, base, domain)
    if dest is None:
        return None
    return Destination(
        dest.kind,
        dest.accounts,
        forward=dest.forward,
        address=dest.address,
        original=original,
        subaddress=subaddress,
    )


def resolve_for_config(config: Config, address: str) -> Destination | None:
    """:func:`resolve_recipient` with everything taken from a loaded Config."""
    static = config.static
    return resolve_recipient(
        config.domains,
        address,
        hostname=static.hostname,
        host_tlsrpt=static.host_tlsrpt,
        postmaster_account=static.postmaster_account,
        postmaster_mailbox=static.postmaster_mailbox,
    )
