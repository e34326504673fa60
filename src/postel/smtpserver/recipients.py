"""Which RCPT TO addresses this server accepts, and where they go (no open relay).

Hosted domains (domains.toml) and the host name are local; everything else
is refused with 550 5.7.1 on the incoming port (RFC 5321 §3.6.2 relaying).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from postel.config import Config
from postel.errors import SMTPReplyError
from postel.smtp.address import Address
from postel.smtp.reply import Reply
from postel.store.routing import resolve_for_config

ReportKind = Literal["tlsrpt", "tlsrpt-host", "dmarc"]

RELAY_DENIED = Reply(550, "5.7.1", "relaying denied: not a domain of this server")
NO_SUCH_USER = Reply(550, "5.1.1", "no such user here")


class RecipientRefused(SMTPReplyError):
    """RCPT TO refused with ``reply`` (one of the replies above)."""

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
    return domain == cfg.static.hostname or domain in cfg.domains.domains


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
