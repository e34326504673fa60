"""Findings from the stored received reports (tlsrpt.db, dmarcrpt.db)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING

from postel.dmarcdb.api import ReceivedDMARCReports
from postel.reportfindings.findings import (
    FailingRow,
    Findings,
    OwnNames,
    dmarc_findings,
    tls_findings,
)
from postel.tlsrptdb.api import ReceivedTLSReports

if TYPE_CHECKING:
    from postel.config import Config

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Settings:
    """What the findings need of the configuration."""

    ours: OwnNames
    known: tuple[Network, ...]
    hostname: str
    digest_to: str  # "" the postmaster mailbox, "-" none
    postmaster_account: str
    postmaster_mailbox: str
    sender_localpart: str

    @classmethod
    def from_config(cls, cfg: Config) -> Settings:
        st = cfg.static
        known: list[Network] = [
            ipaddress.ip_network(n, strict=False) for n in st.reports.known_senders
        ]
        for listener in st.listeners.values():
            for ip in listener.ips:
                addr = ipaddress.ip_address(ip)
                if addr.is_global:  # not 0.0.0.0, ::, loopback or private
                    known.append(ipaddress.ip_network(addr))
        return cls(
            ours=OwnNames.of(cfg.domains.domains, [st.hostname]),
            known=tuple(known),
            hostname=st.hostname,
            digest_to=st.reports.findings_digest_to,
            postmaster_account=st.postmaster_account,
            postmaster_mailbox=st.postmaster_mailbox,
            sender_localpart=st.reports.report_sender_localpart,
        )


def gather(
    tlsdb: ReceivedTLSReports,
    dmarcdb: ReceivedDMARCReports,
    settings: Settings,
    *,
    day_since: str | None = None,
    received_since: str | None = None,
    received_until: str | None = None,
) -> Findings:
    """Findings of the reports whose period starts on or after *day_since*
    (YYYY-MM-DD), or that were received in [*received_since*, *received_until*)."""
    found = Findings()
    reports = tlsdb.failing(
        day_since=day_since, received_since=received_since, received_until=received_until
    )
    for report in reports:
        found.tls += tls_findings(
            report.id,
            report.organization,
            report.start[:10],
            report.report_dict(),
            settings.ours,
        )
    rows = [
        FailingRow.of(r)
        for r in dmarcdb.failing_records(
            day_since=day_since, received_since=received_since, received_until=received_until
        )
    ]
    found.dmarc = dmarc_findings(rows, settings.ours, settings.known)
    return found
