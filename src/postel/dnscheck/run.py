"""Running the DNS check of one domain: gather facts, then the pure checks."""

from __future__ import annotations

import logging

from postel.config import Config
from postel.dns import Resolver
from postel.dnscheck.checks import all_sections
from postel.dnscheck.errors import UnknownDomain
from postel.dnscheck.expected import expected_for
from postel.dnscheck.gather import CheckOptions, gather_facts
from postel.dnscheck.model import Section

log = logging.getLogger("postel.dnscheck")


def options_from_config(cfg: Config, **overrides: object) -> CheckOptions:
    """Check options matching how this instance delivers (port, extra CAs,
    allowed internal networks)."""
    values: dict[str, object] = {
        "smtp_port": cfg.static.delivery.smtp_port,
        "ca_files": tuple(str(cfg.path(p)) for p in cfg.static.tls.extra_ca_files),
        "internal_networks": tuple(cfg.static.delivery.allowed_internal_networks),
        "timeout": min(cfg.static.dns.timeout * 2, 10.0),
    }
    values.update(overrides)
    return CheckOptions(**values)  # type: ignore[arg-type]


async def check_domain(
    cfg: Config, domain: str, resolver: Resolver, opts: CheckOptions | None = None
) -> list[Section]:
    """Every section of the check for *domain* (docs/dns-records.md, The DNS check)."""
    if domain not in cfg.domains.domains:
        raise UnknownDomain(f"domain {domain!r} is not in {cfg.domains_file}")
    opts = opts or options_from_config(cfg)
    exp = expected_for(cfg, domain)
    facts = await gather_facts(cfg, domain, resolver, exp, opts)
    sections = all_sections(facts, exp)
    log.info(
        "dns check",
        extra={
            "domain": domain,
            "errors": sum(len(s.errors) for s in sections),
            "warnings": sum(len(s.warnings) for s in sections),
        },
    )
    return sections
