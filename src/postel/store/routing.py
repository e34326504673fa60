"""Recipient routing: which RCPT TO addresses this server accepts (no open
relay), and which local account(s) and mailbox(es) each goes to.

Hosted domains (domains.toml) and the host name are local; everything else
is refused with 550 5.7.1 on the incoming port (RFC 5321 §3.6.2 relaying).

Pure: works on the configuration passed in. Matching is case-insensitive on
the localpart (the configured spelling is reported), domains compare as
lower-case A-labels. Order for localpart@domain: an account's address, the
domain's DMARC/TLS report address, an alias, the host TLSRPT address
(localpart@hostname), postmaster (RFC 5321 §4.5.1); failing all of them,
the same again without a "+tag" subaddress.

A configuration is treated as immutable: a reload of domains.toml makes a new
DomainsConfig (worker and main process assign ``cfg.domains``). What is derived
from it (address map, lower-cased aliases, results per address) is cached on
a context held with a strong reference to the configuration objects it was
made from, so a new object can never meet results of an old one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from postel.config.names import check_domain
from postel.errors import SMTPReplyError
from postel.smtp.reply import Reply

if TYPE_CHECKING:
    from postel.config import Config, DomainsConfig
    from postel.config.model import HostTLSRPT
    from postel.smtp.address import Address

log = logging.getLogger("postel.store")

INBOX = "Inbox"
ReportKind = Literal["tlsrpt", "tlsrpt-host", "dmarc"]

RELAY_DENIED = Reply(550, "5.7.1", "relaying denied: not a domain of this server")
NO_SUCH_USER = Reply(550, "5.1.1", "no such user here")
MAX_ALIAS_DEPTH = 8
SUBADDRESS_SEPARATOR = "+"


@dataclass(frozen=True)
class Destination:
    """Where a recipient's mail is stored, and where it is forwarded."""

    kind: Literal["account", "alias"]
    accounts: list[tuple[str, str]]  # (account, mailbox), no duplicates
    forward: list[str] = field(default_factory=list)  # external alias targets
    address: str = ""  # the configured address that matched (localpart@A-label)
    original: str = ""  # the address as given
    subaddress: str | None = None  # the "+tag" part that was ignored, if any


class _Context:
    """One configuration, prepared for lookups, with its results so far."""

    __slots__ = (
        "addresses",
        "aliases",
        "domains",
        "host_tlsrpt",
        "hostname",
        "postmaster",
        "results",
        "warnings",
    )

    def __init__(
        self,
        domains: DomainsConfig,
        hostname: str,
        host_tlsrpt: HostTLSRPT | None,
        postmaster: tuple[str, str] | None,
    ) -> None:
        self.domains = domains
        self.hostname = hostname
        self.host_tlsrpt = host_tlsrpt
        self.postmaster = postmaster
        # lower address -> (account, configured address)
        self.addresses: dict[str, tuple[str, str]] = {
            a.lower(): (name, a) for name, acc in domains.accounts.items() for a in acc.addresses
        }
        # domain -> lower alias -> (configured alias, targets); the first wins
        self.aliases: dict[str, dict[str, tuple[str, list[str]]]] = {}
        for dname, dom in domains.domains.items():
            by_lower: dict[str, tuple[str, list[str]]] = {}
            for alias, targets in dom.aliases.items():
                by_lower.setdefault(alias.lower(), (alias, targets))
            self.aliases[dname] = by_lower
        # address as given -> destination; only resolutions that logged nothing
        self.results: dict[str, Destination | None] = {}
        self.warnings = 0  # warnings logged so far


_ContextKey = tuple[int, str, int, "str | None", str]
_CONTEXTS: dict[_ContextKey, _Context] = {}
_CONTEXTS_MAX = 8  # configurations kept (reloads, tests)
_RESULTS_MAX = 4096  # addresses kept per configuration (they come from clients)


def _context(
    domains: DomainsConfig,
    hostname: str,
    host_tlsrpt: HostTLSRPT | None,
    postmaster_account: str | None,
    postmaster_mailbox: str,
) -> _Context:
    # The context holds domains and host_tlsrpt, so their ids are not reused
    # while it is in _CONTEXTS.
    key = (id(domains), hostname, id(host_tlsrpt), postmaster_account, postmaster_mailbox)
    ctx = _CONTEXTS.get(key)
    if ctx is None or ctx.domains is not domains or ctx.host_tlsrpt is not host_tlsrpt:
        ctx = _Context(
            domains,
            check_domain(hostname),
            host_tlsrpt,
            (postmaster_account, postmaster_mailbox) if postmaster_account else None,
        )
        if len(_CONTEXTS) >= _CONTEXTS_MAX:
            _CONTEXTS.clear()
        _CONTEXTS[key] = ctx
    return ctx


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
    lower = local.lower()
    found = ctx.addresses.get(f"{lower}@{domain}")
    if found is not None:
        account, configured = found
        return Destination("account", [(account, INBOX)], address=configured)
    dom = ctx.domains.domains.get(domain)
    if dom is not None:
        for report in (dom.dmarc_reports, dom.tlsrpt_reports):
            if report is not None and report.localpart.lower() == lower:
                return Destination(
                    "account",
                    [(report.account, report.mailbox)],
                    address=f"{report.localpart}@{domain}",
                )
        alias = ctx.aliases[domain].get(lower)
        if alias is not None:
            return _expand(ctx, f"{alias[0]}@{domain}", alias[1], depth, seen)
    tlsrpt = ctx.host_tlsrpt
    if (
        tlsrpt is not None
        and tlsrpt.localpart
        and tlsrpt.account
        and domain == ctx.hostname
        and tlsrpt.localpart.lower() == lower
    ):
        return Destination(
            "account", [(tlsrpt.account, tlsrpt.mailbox)], address=f"{tlsrpt.localpart}@{domain}"
        )
    if ctx.postmaster is not None and lower == "postmaster":
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
            ctx.warnings += 1
            log.warning("alias loop or nesting too deep", extra={"alias": alias, "target": target})
            continue
        dest = _match(ctx, local, domain, depth + 1, seen)
        if dest is None:
            ctx.warnings += 1
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
    ctx = _context(domains, hostname, host_tlsrpt, postmaster_account, postmaster_mailbox)
    return _lookup(ctx, address)


def _lookup(ctx: _Context, address: str) -> Destination | None:
    """The destination of *address* in *ctx*, remembered there."""
    try:
        return ctx.results[address]
    except KeyError:
        pass
    warnings = ctx.warnings
    dest = _resolve(ctx, address)
    if ctx.warnings == warnings:  # the same lines are logged again next time
        if len(ctx.results) >= _RESULTS_MAX:
            ctx.results.clear()
        ctx.results[address] = dest
    return dest


def _resolve(ctx: _Context, address: str) -> Destination | None:
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


def _config_context(config: Config) -> _Context:
    static = config.static
    return _context(
        config.domains,
        static.hostname,
        static.host_tlsrpt,
        static.postmaster_account,
        static.postmaster_mailbox,
    )


def resolve_for_config(config: Config, address: str) -> Destination | None:
    """:func:`resolve_recipient` with everything taken from a loaded Config."""
    return _lookup(_config_context(config), address)


# -- at RCPT TO: accepted or refused, with the reply ------------------------


class RecipientRefused(SMTPReplyError):
    """RCPT TO refused with ``reply``: a recipient this server does not accept."""

    def __init__(self, reply: Reply):
        super().__init__(reply.code, reply.enhanced, reply.text)
        self.reply = reply


@dataclass(frozen=True)
class LocalRecipient:
    address: Address
    deliveries: list[tuple[str, str]]  # (account, mailbox)
    forward: list[str] = field(default_factory=list)
    report: ReportKind | None = None


def is_local_domain(cfg: Config, domain: str) -> bool:
    """Whether *domain* (lower-case A-label) is a hosted domain or the host name."""
    return _is_local_domain(_config_context(cfg), domain)


def report_kind(cfg: Config, address: str) -> ReportKind | None:
    """The kind of reports *address* (a configured address) receives, if any.

    "tlsrpt-host" is the host TLSRPT address (reports about this MX, DANE).
    """
    local, _, domain = address.rpartition("@")
    lp = local.lower()
    host = cfg.static.host_tlsrpt
    if host.localpart and domain == cfg.static.hostname and lp == host.localpart.lower():
        return "tlsrpt-host"
    dom = cfg.domains.domains.get(domain)
    if dom is None:
        return None
    if dom.tlsrpt_reports and lp == dom.tlsrpt_reports.localpart.lower():
        return "tlsrpt"
    if dom.dmarc_reports and lp == dom.dmarc_reports.localpart.lower():
        return "dmarc"
    return None


def resolve(cfg: Config, address: Address, *, postmaster: bool = False) -> LocalRecipient:
    """Where mail for *address* goes; raises RecipientRefused with the reply.

    *postmaster* is the bare ``<Postmaster>`` of RFC 5321 §4.1.1.3, which is
    always accepted, as is postmaster@ every local domain (§4.5.1).
    """
    if not postmaster and not is_local_domain(cfg, address.domain):
        raise RecipientRefused(RELAY_DENIED)
    dest = resolve_for_config(cfg, "postmaster" if postmaster else str(address))
    if dest is None:
        raise RecipientRefused(NO_SUCH_USER)
    report = report_kind(cfg, dest.address) if dest.kind == "account" else None
    return LocalRecipient(address, list(dest.accounts), list(dest.forward), report)
