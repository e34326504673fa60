"""Adding and removing domains in the text of domains.toml (pure, tomlkit).

Like postel.store.accountsfile for accounts: comments and layout elsewhere
stay, and callers validate the result with validate_domains before writing.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import tomlkit
from tomlkit.items import Table

from postel.config.domains import DomainsConfig
from postel.config.names import check_domain


def add_domain(
    text: str,
    domain: str,
    *,
    description: str = "",
    selectors: list[tuple[str, str, str]] | None = None,
    report_account: str = "",
    mta_sts_id: str = "",
    mx: list[str] | None = None,
) -> str:
    """domains.toml text with *domain* added: DKIM *selectors* (selector, algorithm,
    key_file) all used for signing; DMARC and TLS reports to *report_account*
    when given; an enforcing MTA-STS policy when *mta_sts_id* is given."""
    domain = check_domain(domain)
    doc = tomlkit.parse(text)
    domains = doc.get("domains")
    if domains is not None and domain in domains:
        raise ValueError(f"domain {domain!r} already exists")
    table = tomlkit.table()
    table.add("description", description)
    sels = selectors or []
    if sels:
        dkim = tomlkit.table()
        dkim.add("sign", [s for s, _, _ in sels])
        selectors_table = tomlkit.table(is_super_table=True)
        for sel, algorithm, key_file in sels:
            entry = tomlkit.table()
            entry.add("algorithm", algorithm)
            entry.add("key_file", key_file)
            selectors_table.add(sel, entry)
        dkim.add("selectors", selectors_table)
        table.add("dkim", dkim)
    if report_account:
        for key, localpart, mailbox in (
            ("dmarc_reports", "dmarc-reports", "DMARC"),
            ("tlsrpt_reports", "tls-reports", "TLSRPT"),
        ):
            ra = tomlkit.table()
            ra.add("localpart", localpart)
            ra.add("account", report_account)
            ra.add("mailbox", mailbox)
            table.add(key, ra)
    if mta_sts_id:
        policy = tomlkit.table()
        policy.add("policy_id", mta_sts_id)
        policy.add("mode", "enforce")
        policy.add("max_age", 604800)
        policy.add("mx", list(mx or []))
        table.add("mta_sts", policy)
    table.add(tomlkit.nl())
    if domains is None:
        domains = tomlkit.table(is_super_table=True)
        doc.add("domains", domains)
    if isinstance(domains, Table):
        domains.append(domain, table)
    elif isinstance(domains, MutableMapping):  # split over the file (tomlkit proxy)
        domains[domain] = table
    else:
        raise ValueError("domains in domains.toml is not a table")
    return tomlkit.dumps(doc)


def domain_users(domains: DomainsConfig, domain: str) -> list[str]:
    """What still refers to *domain*: accounts, addresses, aliases elsewhere."""
    users: list[str] = []
    for name, acc in domains.accounts.items():
        if acc.domain == domain or any(a.lower().endswith("@" + domain) for a in acc.addresses):
            users.append(f"account {name}")
    for dname, dom in domains.domains.items():
        if dname == domain:
            continue
        for lp, dests in dom.aliases.items():
            if any(d.lower().endswith("@" + domain) for d in dests):
                users.append(f"alias {lp}@{dname}")
    return users


def remove_domain(text: str, domain: str) -> str:
    """domains.toml text without *domain*."""
    doc = tomlkit.parse(text)
    domains: Any = doc.get("domains")
    if domains is None or domain not in domains:
        raise ValueError(f"no domain {domain!r} in domains.toml")
    del domains[domain]
    return tomlkit.dumps(doc)
